"""A Python workflow with a signal, a query and an update handler (with a validator), run by
Temporal's Python SDK as the worker and driven by its client, against the server at argv[1].
Prints one JSON line: what each call answered and the history's event types (the whole history
at the end, and before and after an update the validator rejects)."""

import asyncio
import json
import os
import sys
import uuid

from temporalio import workflow
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowUpdateStage
from temporalio.worker import Worker


@workflow.defn
class Order:
    def __init__(self) -> None:
        self.status = "pending"
        self.items: list[str] = []
        self.done = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.done)
        return f"{self.status}:{len(self.items)}"

    @workflow.signal
    def add(self, item: str) -> None:
        self.items.append(item)

    @workflow.query
    def get_status(self) -> str:
        return f"{self.status}/{len(self.items)}"

    @workflow.query
    def broken(self) -> str:
        raise ValueError("no status to show")

    @workflow.update
    async def set_status(self, status: str) -> str:
        self.status = status
        return f"now {status}"

    @set_status.validator
    def check(self, status: str) -> None:
        if not status:
            raise ValueError("empty status")

    @workflow.update
    def finish(self) -> str:
        self.done = True
        return "finishing"


async def main(address: str) -> None:
    client = await Client.connect(address)
    queue = "py-messages-" + uuid.uuid4().hex[:8]
    seen: dict = {}
    async with Worker(client, task_queue=queue, workflows=[Order]):
        handle = await client.start_workflow(Order.run, id="py-order-" + queue, task_queue=queue)
        # The signal comes after the first workflow task, so that the history does not depend
        # on timing and is the same on every server.
        while 7 not in await event_types(handle):  # WorkflowTaskCompleted
            await asyncio.sleep(0.05)
        await handle.signal(Order.add, "apple")
        seen["query"] = await handle.query(Order.get_status)
        # A query whose handler fails: Temporal's QueryFailed, to the Python client and the CLI.
        try:
            await handle.query(Order.broken)
            seen["query_failed"] = "answered"
        except WorkflowQueryFailedError as e:
            seen["query_failed"] = f"WorkflowQueryFailedError: {e}"
        # Run without blocking the loop, on which the worker answers the query.
        cli = await asyncio.create_subprocess_exec(
            "temporal", "workflow", "query", "--address", address, "--workflow-id", handle.id,
            "--name", "broken",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(cli.communicate(), 60)
        seen["cli_query_failed"] = [cli.returncode, err.decode().strip().splitlines()[-1:]]
        seen["update"] = await handle.execute_update(Order.set_status, "paid")
        # The run is idle: the rejected update rides a speculative workflow task, which a
        # rejection leaves out of the history.
        seen["before_rejected"] = await event_types(handle)
        try:
            await handle.execute_update(Order.set_status, "")
            seen["rejected"] = "not rejected"
        except Exception as e:  # the validator's failure, as the cause
            seen["rejected"] = getattr(getattr(e, "cause", None), "message", repr(e))
        seen["after_rejected"] = await event_types(handle)
        started = await handle.start_update(
            Order.set_status, "shipped", wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        seen["started_update"] = await started.result()
        seen["query_after"] = await handle.query(Order.get_status)
        seen["finish"] = await handle.execute_update(Order.finish)
        seen["result"] = await handle.result()
        seen["query_closed"] = await handle.query(Order.get_status)
        try:
            await handle.execute_update(Order.set_status, "late")
            seen["update_closed"] = "accepted"
        except Exception as e:
            seen["update_closed"] = str(e)
        seen["events"] = await event_types(handle)
    print(json.dumps(seen))


async def event_types(handle) -> list:
    history = await handle.fetch_history()
    return [e.event_type for e in history.events]


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1]), 120))
    sys.stdout.flush()
    # The SDK's native runtime threads can abort the interpreter while it finalizes; the work
    # is done and printed, so leave without finalizing.
    os._exit(0)
