"""The seed workflow written with Temporal's Python SDK, served by a `temporalio` worker.

Usage: python3 python_seed_worker.py ADDRESS TASK_QUEUE

Registers workflow `your_workflow` and activities `activity_to_be_canceled`,
`activity_to_be_skipped` and `cleanup_activity` under the same names as the dacapo seed, so a
test can start and cancel both the same way and compare their histories. Prints `ready` once
polling, and runs until killed or until the process that started it exits.
"""

import asyncio
import os
import sys
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.exceptions import is_cancelled_exception
from temporalio.worker import Worker
from temporalio.workflow import ActivityCancellationType


@activity.defn(name="activity_to_be_canceled")
async def activity_to_be_canceled() -> str:
    # Heartbeats every second; the SDK raises asyncio.CancelledError here once a heartbeat
    # response carries the cancel.
    while True:
        activity.heartbeat()
        await asyncio.sleep(1)


@activity.defn(name="activity_to_be_skipped")
async def activity_to_be_skipped() -> None:
    print("activity_to_be_skipped: this should not run", flush=True)


@activity.defn(name="cleanup_activity")
async def cleanup_activity() -> None:
    print("cleanup_activity: cleaning up after the cancel", flush=True)


@workflow.defn(name="your_workflow")
class YourWorkflow:
    @workflow.run
    async def run(self) -> None:
        try:
            await workflow.execute_activity(
                activity_to_be_canceled,
                start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(seconds=5),
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
            await workflow.execute_activity(
                activity_to_be_skipped, start_to_close_timeout=timedelta(minutes=1)
            )
        except BaseException as err:
            if is_cancelled_exception(err):
                # The cancel has been delivered to the body already; shielding keeps a second
                # cancel request from interrupting the cleanup.
                await asyncio.shield(
                    asyncio.ensure_future(
                        workflow.execute_activity(
                            cleanup_activity, start_to_close_timeout=timedelta(seconds=2)
                        )
                    )
                )
            raise


async def exit_with_parent(parent: int) -> None:
    """Exits at once when the process that started this one is gone, so that a test killed
    before it could kill this worker leaves nothing behind. (A graceful worker shutdown could
    wait on a server that died with the test.)"""
    while os.getppid() == parent:
        await asyncio.sleep(1)
    sys.stdout.flush()
    # Not a normal exit: the SDK's native runtime threads can abort the interpreter while it
    # finalizes.
    os._exit(0)


async def main(address: str, task_queue: str) -> None:
    parent = os.getppid()
    client = await Client.connect(address, namespace="default")
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[YourWorkflow],
        activities=[activity_to_be_canceled, activity_to_be_skipped, cleanup_activity],
    )
    async with worker:
        print("ready", flush=True)
        await exit_with_parent(parent)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
