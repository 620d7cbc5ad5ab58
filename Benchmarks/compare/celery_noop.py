"""The Celery side of the jobs benchmark: one no-op task, Redis as broker and result backend
(Celery's defaults otherwise: early acknowledgement, a prefetch of four per child), and each
task's prerun and postrun times appended to a file per worker child under CELERY_TIMES."""
import os
import time

from celery import Celery
from celery.signals import task_postrun, task_prerun

app = Celery("celery_noop", broker=os.environ["BROKER"], backend=os.environ["BROKER"])
app.conf.update(result_expires=3600, worker_hijack_root_logger=False, broker_connection_retry_on_startup=True)

started = {}
log = None


@task_prerun.connect
def before(task_id=None, **_):
    started[task_id] = time.time()


@task_postrun.connect
def after(task_id=None, **_):
    global log
    if log is None:
        log = open(os.path.join(os.environ["CELERY_TIMES"], f"{os.getpid()}.times"), "a", buffering=1)
    log.write(f"{started.pop(task_id, time.time())} {time.time()}\n")


@app.task(name="noop")
def noop(prompt):
    return {"text": "Hello there.", "prompt_tokens": 12, "completion_tokens": 3}
