"""Updates a dacapo workflow with the Python `temporalio` client and prints what it saw as JSON.

Usage: python3 python_update_client.py ADDRESS WORKFLOW_ID TASK_QUEUE

Starts `counter` (tests/updates.rs) and at once sends it `add` 5 (so the update may ride the
run's first workflow task, before the workflow registered its handler), then `add` 0 (refused
by the validator), `check` "py" (its handler runs an activity), signals `stop`, waits for the
result, then updates the closed run and reports the error it gets.
"""

import asyncio
import json
import os
import sys

from temporalio.client import Client, RPCError, WorkflowUpdateFailedError


async def main(address: str, workflow_id: str, task_queue: str) -> None:
    client = await Client.connect(address, namespace="default")
    handle = await client.start_workflow("counter", id=workflow_id, task_queue=task_queue)
    outcome = {"add": await handle.execute_update("add", 5)}
    try:
        await handle.execute_update("add", 0)
        outcome["zero"] = "accepted"
    except WorkflowUpdateFailedError as err:
        outcome["zero"] = str(err.cause)
    outcome["check"] = await handle.execute_update("check", "py")
    await handle.signal("stop")
    outcome["result"] = await handle.result()
    try:
        await handle.execute_update("add", 1)
        outcome["late_update"] = "accepted"
    except RPCError as err:
        outcome["late_update"] = {"status": err.status.name, "message": err.message}
    print(json.dumps(outcome))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
    sys.stdout.flush()
    # The SDK's native runtime threads can abort the interpreter while it finalizes; the work
    # is done and printed, so leave without finalizing.
    os._exit(0)
