#!/usr/bin/env python3
"""Read a TensorBoard event file with TensorBoard's own EventAccumulator; print its scalars as JSON.

Proof that the event files Fledge's TensorBoardLogger writes (TFRecord framing, masked CRC32C,
hand-encoded Event protobuf) are readable by TensorBoard. Output:

    {"file": <name>, "tensorboard": <version>, "scalars": {tag: [{"step", "wall_time", "value"}, ...]}}

with tags sorted and events in file order. Usage (tensorboard 2.21.0, see README of the fixture):

    python Scripts/reference/read_tensorboard.py EVENT_FILE > scalars.json
"""
import json
import os
import sys

import tensorboard
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: read_tensorboard.py EVENT_FILE")
    path = sys.argv[1]
    # size_guidance 0 = keep every event (the default samples scalars down to 10000).
    accumulator = EventAccumulator(path, size_guidance={"scalars": 0})
    accumulator.Reload()
    tags = sorted(accumulator.Tags()["scalars"])
    if not tags:
        sys.exit(f"{path}: TensorBoard found no scalars")
    scalars = {
        tag: [{"step": e.step, "wall_time": e.wall_time, "value": e.value} for e in accumulator.Scalars(tag)]
        for tag in tags
    }
    output = {"file": os.path.basename(path), "tensorboard": tensorboard.__version__, "scalars": scalars}
    json.dump(output, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
