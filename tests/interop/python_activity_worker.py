"""A Python `temporalio` worker whose code dacapo calls: an activity that a dacapo workflow
schedules by name, and a workflow that a dacapo client starts and cancels.

Usage: python3 python_activity_worker.py ADDRESS ACTIVITY_TASK_QUEUE WORKFLOW_TASK_QUEUE

- activity `python_greet` (on ACTIVITY_TASK_QUEUE) takes {"name": str, "times": int} and
  returns {"greeting": str, "language": "python", "letters": int};
- workflow `python_waits_for_cancel` (on WORKFLOW_TASK_QUEUE) takes a JSON object and sleeps
  an hour on a durable timer, so it ends only by a cancel (closing as Canceled);
- workflow `python_waits_for_approval` (on WORKFLOW_TASK_QUEUE) waits for a signal `approve`
  carrying {"by": str} and returns {"approved_by": str, "language": "python"}; it answers the
  queries `status` (no argument: "waiting" or "approved by BY") and `approval_field` (a field
  name: that field of the approval, failing with "no field NAME" when it has none).

Values cross as `json/plain` payloads, the SDK's default. Prints `ready` once polling, and
runs until killed or until the process that started it exits.
"""

import asyncio
import os
import sys
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn(name="python_greet")
async def python_greet(request: dict) -> dict:
    name = request["name"]
    return {
        "greeting": " ".join([f"Hello, {name}!"] * request["times"]),
        "language": "python",
        "letters": len(name),
    }


@workflow.defn(name="python_waits_for_cancel")
class WaitsForCancel:
    @workflow.run
    async def run(self, request: dict) -> dict:
        # A cancel raises asyncio.CancelledError here; letting it out closes the run Canceled.
        await asyncio.sleep(timedelta(hours=1).total_seconds())
        return {"woke": True, "request": request}


@workflow.defn(name="python_waits_for_approval")
class WaitsForApproval:
    def __init__(self) -> None:
        self.approval = None

    @workflow.signal(name="approve")
    def approve(self, approval: dict) -> None:
        self.approval = approval

    @workflow.query(name="status")
    def status(self) -> str:
        return "waiting" if self.approval is None else f"approved by {self.approval['by']}"

    @workflow.query(name="approval_field")
    def approval_field(self, field: str) -> str:
        if self.approval is None or field not in self.approval:
            raise ValueError(f"no field {field}")
        return str(self.approval[field])

    @workflow.run
    async def run(self) -> dict:
        await workflow.wait_condition(lambda: self.approval is not None)
        return {"approved_by": self.approval["by"], "language": "python"}


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


async def main(address: str, activity_queue: str, workflow_queue: str) -> None:
    parent = os.getppid()
    client = await Client.connect(address, namespace="default")
    activities = Worker(client, task_queue=activity_queue, activities=[python_greet])
    workflows = Worker(client, task_queue=workflow_queue, workflows=[WaitsForCancel, WaitsForApproval])
    async with activities, workflows:
        print("ready", flush=True)
        await exit_with_parent(parent)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
