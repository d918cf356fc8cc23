"""Job functions the job-server tests run in a fork of the server and in a new process, to compare."""
import json
import os
import sys
import time

PRELOADED = sorted(name for name in ("pandas", "torch") if name in sys.modules)  # before this module's imports
ARCHLAB_FRESH = "archlab" not in sys.modules


def train(args: dict) -> None:
    """A few seeded Adam steps on two threads (a fork must not inherit a broken OpenMP pool)."""
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randn(512, 256), torch.randn(512, 1)
    for _ in range(20):
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print("hello from the job", flush=True)
    with open(args["out"], "w") as fh:
        json.dump({"loss": loss.item(), "weights": sum(p.detach().double().sum().item() for p in model.parameters()),
                   "preloaded": PRELOADED, "archlab_fresh": ARCHLAB_FRESH, "cwd": os.getcwd(),
                   "probe": os.environ.get("PROBE"), "forked_from": os.environ.get("ARCHLAB_FORKED_FROM")}, fh)


def exit_with(code: int) -> None:
    raise SystemExit(code)


def fail(message: str) -> None:
    raise ValueError(message)


def sleep(pid_file: str) -> None:
    with open(pid_file, "w") as fh:
        fh.write(str(os.getpid()))
    time.sleep(300)


def exit_handler(path: str) -> None:
    """Registers an atexit handler, as dvclive, wandb or logging do: a forked job must run it as a process would."""
    import atexit

    atexit.register(lambda: open(path, "w").write("ran"))


def string_hash(path: str) -> None:
    """The process's string hashing (fixed when a process starts; a fork keeps its parent's)."""
    with open(path, "w") as fh:
        fh.write(str(hash("archlab")))
