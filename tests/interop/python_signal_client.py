"""Signals a dacapo workflow with the Python `temporalio` client and prints what it saw as JSON.

Usage: python3 python_signal_client.py ADDRESS WORKFLOW_ID TASK_QUEUE

Starts `approval_or_timeout` (tests/signals.rs) with a one-hour timeout, sends it `approve`
with {"by": "python"}, waits for the result, then signals the closed run and reports the error
it gets.
"""

import asyncio
import json
import os
import sys

from temporalio.client import Client, RPCError


async def main(address: str, workflow_id: str, task_queue: str) -> None:
    client = await Client.connect(address, namespace="default")
    handle = await client.start_workflow(
        "approval_or_timeout", 3600, id=workflow_id, task_queue=task_queue
    )
    await handle.signal("approve", {"by": "python"})
    outcome = {"result": await handle.result()}
    try:
        await handle.signal("approve", {"by": "too late"})
        outcome["late_signal"] = "accepted"
    except RPCError as err:
        outcome["late_signal"] = {"status": err.status.name, "message": err.message}
    print(json.dumps(outcome))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
    sys.stdout.flush()
    # The SDK's native runtime threads can abort the interpreter while it finalizes; the work
    # is done and printed, so leave without finalizing.
    os._exit(0)
