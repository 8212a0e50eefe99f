"""Drives a dacapo server with the Python `temporalio` client and prints what it saw as JSON.

Usage: python3 python_client.py ADDRESS WORKFLOW_ID TASK_QUEUE
"""

import asyncio
import json
import os
import sys

from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import CancelledError


async def main(address: str, workflow_id: str, task_queue: str) -> None:
    client = await Client.connect(address, namespace="default")
    handle = await client.start_workflow("your_workflow", id=workflow_id, task_queue=task_queue)
    # Let the activity heartbeat before cancelling.
    await asyncio.sleep(1.5)
    await handle.cancel()
    outcome = {"workflow_id": workflow_id, "run_id": handle.result_run_id}
    try:
        await handle.result()
        outcome["result"] = "completed"
    except WorkflowFailureError as err:
        outcome["result"] = "cancelled" if isinstance(err.cause, CancelledError) else f"failed: {err.cause!r}"
    description = await handle.describe()
    outcome["status"] = description.status.name if description.status else None
    outcome["workflow_type"] = description.workflow_type
    events = []
    async for event in handle.fetch_history_events():
        events.append(event.event_type)
    outcome["event_count"] = len(events)
    print(json.dumps(outcome))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
    sys.stdout.flush()
    # The SDK's native runtime threads can abort the interpreter while it finalizes; the work
    # is done and printed, so leave without finalizing.
    os._exit(0)
