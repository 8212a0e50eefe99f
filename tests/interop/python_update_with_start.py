"""Update-with-start from Temporal's Python client, with its SDK as the worker, against the
server at argv[1]: a start that runs the update on a new run, one that finds the running run
(USE_EXISTING), one refused as already started (FAIL), and one whose update the validator
rejects on the run it starts; then the temporal CLI's execute-update-with-start, twice. Prints one JSON line: what each call answered and the event
types of both runs' histories."""

import asyncio
import json
import os
import sys
import uuid

from temporalio import workflow
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.worker import Worker


@workflow.defn
class Cart:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.done = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.done)
        return ",".join(self.items)

    @workflow.update
    def add(self, item: str) -> int:
        self.items.append(item)
        return len(self.items)

    @add.validator
    def check(self, item: str) -> None:
        if not item:
            raise ValueError("empty item")

    @workflow.update
    def checkout(self) -> str:
        self.done = True
        return "checking out"


async def cli(address: str, *args: str) -> list:
    """Runs `temporal workflow ARGS` without blocking the loop the worker runs on; gives its
    exit code and the lines of its output that do not change from run to run."""
    proc = await asyncio.create_subprocess_exec(
        "temporal", "workflow", *args, "--address", address, "--output", "json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    if proc.returncode != 0:
        return [proc.returncode, err.decode().strip().splitlines()[-1:]]
    answer = json.loads(out)
    return [proc.returncode, answer.get("updateResult", answer)]


async def event_types(handle) -> list:
    history = await handle.fetch_history()
    return [e.event_type for e in history.events]


async def main(address: str) -> None:
    client = await Client.connect(address)
    queue = "py-uws-" + uuid.uuid4().hex[:8]
    cart_id = "cart-" + queue
    seen: dict = {}

    def start(workflow_id: str, policy: WorkflowIDConflictPolicy) -> WithStartWorkflowOperation:
        return WithStartWorkflowOperation(
            Cart.run, id=workflow_id, id_conflict_policy=policy, task_queue=queue
        )

    async with Worker(client, task_queue=queue, workflows=[Cart]):
        first = start(cart_id, WorkflowIDConflictPolicy.USE_EXISTING)
        seen["first"] = await client.execute_update_with_start_workflow(
            Cart.add, "apple", start_workflow_operation=first
        )
        handle = await first.workflow_handle()
        again = start(cart_id, WorkflowIDConflictPolicy.USE_EXISTING)
        seen["again"] = await client.execute_update_with_start_workflow(
            Cart.add, "pear", start_workflow_operation=again
        )
        seen["same_run"] = (await again.workflow_handle()).first_execution_run_id == (
            handle.first_execution_run_id
        )
        try:
            await client.execute_update_with_start_workflow(
                Cart.add, "plum", start_workflow_operation=start(cart_id, WorkflowIDConflictPolicy.FAIL)
            )
            seen["refused"] = "not refused"
        except WorkflowAlreadyStartedError as e:
            seen["refused"] = type(e).__name__
        rejected_id = "rejected-" + queue
        rejected = start(rejected_id, WorkflowIDConflictPolicy.USE_EXISTING)
        try:
            await client.execute_update_with_start_workflow(
                Cart.add, "", start_workflow_operation=rejected
            )
            seen["rejected"] = "not rejected"
        except WorkflowUpdateFailedError as e:
            seen["rejected"] = getattr(getattr(e, "cause", None), "message", repr(e))
        # The temporal CLI's update-with-start, to a new id and then to the same (UseExisting).
        cli_id = "cli-" + queue
        seen["cli"] = [
            await cli(address, "execute-update-with-start", "--workflow-id", cli_id, "--type",
                      "Cart", "--task-queue", queue, "--id-conflict-policy", "UseExisting",
                      "--update-name", "add", "--update-input", '"kiwi"'),
            await cli(address, "execute-update-with-start", "--workflow-id", cli_id, "--type",
                      "Cart", "--task-queue", queue, "--id-conflict-policy", "UseExisting",
                      "--update-name", "add", "--update-input", '"fig"'),
        ]
        cli_handle = client.get_workflow_handle(cli_id)
        seen["cli_result"] = await cli_handle.execute_update(Cart.checkout)
        seen["cli_items"] = await cli_handle.result()
        seen["checkout"] = await handle.execute_update(Cart.checkout)
        seen["result"] = await handle.result()
        seen["events"] = await event_types(handle)
        rejected_handle = client.get_workflow_handle(rejected_id)
        seen["rejected_events"] = await event_types(rejected_handle)
        await rejected_handle.terminate("done")
    print(json.dumps(seen))


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1]), 120))
    # The SDK's runtime threads can abort the interpreter's shutdown; what was asked is done.
    sys.stdout.flush()
    os._exit(0)
