"""The Python workflow of python_messages.py (`Order`: a signal `add`, a query `get_status`, an
update `set_status` with a validator, an update `finish` without arguments), run by Temporal's
Python SDK as a worker only, so that other clients drive it.

Usage: python3 python_message_worker.py ADDRESS TASK_QUEUE

Prints `ready` once polling, and runs until killed or until the process that started it exits.
"""

import asyncio
import os
import sys

from temporalio.client import Client
from temporalio.worker import Worker

from python_messages import Order


async def main(address: str, queue: str) -> None:
    client = await Client.connect(address)
    async with Worker(client, task_queue=queue, workflows=[Order]):
        print("ready", flush=True)
        parent = os.getppid()
        while os.getppid() == parent:
            await asyncio.sleep(0.5)
        # The test is gone: leave at once, without a graceful shutdown that could wait on a
        # server that died with it, and without finalizing (the SDK's native threads can abort
        # the interpreter then).
        sys.stdout.flush()
        os._exit(0)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
