"""Queries a dacapo workflow with the Python `temporalio` client and prints what it saw as JSON.

Usage: python3 python_query_client.py ADDRESS WORKFLOW_ID TASK_QUEUE

Starts `cart` (tests/queries.rs), adds "kiwi" with the `add_item` signal, queries `items` and
`item` (index 0, then 3, which the handler fails) and Temporal's `__temporal_workflow_metadata`,
checks out, waits for the result, and queries the closed run.
"""

import asyncio
import json
import os
import sys

from temporalio.client import Client, WorkflowQueryFailedError


async def main(address: str, workflow_id: str, task_queue: str) -> None:
    client = await Client.connect(address, namespace="default")
    handle = await client.start_workflow("cart", id=workflow_id, task_queue=task_queue)
    await handle.signal("add_item", "kiwi")
    # The signal's workflow task may still be due: the query waits for it and sees the item.
    outcome = {"open": await handle.query("items")}
    outcome["item"] = await handle.query("item", 0)
    # Temporal's metadata query, decoded by the SDK as the proto message it is.
    metadata = await handle.query("__temporal_workflow_metadata")
    outcome["metadata"] = {
        "type": metadata.definition.type,
        "queries": [q.name for q in metadata.definition.query_definitions],
        "signals": [s.name for s in metadata.definition.signal_definitions],
    }
    try:
        await handle.query("item", 3)
        outcome["failed"] = "answered"
    except WorkflowQueryFailedError as err:
        outcome["failed"] = err.message
    await handle.signal("checkout")
    outcome["result"] = await handle.result()
    outcome["closed"] = await handle.query("items")
    print(json.dumps(outcome))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
    sys.stdout.flush()
    # The SDK's native runtime threads can abort the interpreter while it finalizes; the work
    # is done and printed, so leave without finalizing.
    os._exit(0)
