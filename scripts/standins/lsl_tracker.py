#!/usr/bin/env python3
"""A stand-in LSL eye tracker for gazefilter's tests, on real liblsl (from pylsl).

Publishes raw gaze as an LSL outlet the way Tobii's and EyeLink's LSL apps do (double64
channels with labels; NaN where a sample was lost), and reads a cleaned stream back through
an LSL inlet:
  1. makes the raw outlet (--name, type Gaze, channels pupil_diameter, validity, gaze_x, gaze_y);
  2. resolves the cleaned outlet by --clean-source-id and opens an inlet on it;
  3. waits until something consumes the raw outlet (gazefilter-lsl in);
  4. pushes the plan's samples (--plan: JSON lines [t, x, y], null for NaN) at --rate, each
     stamped with its t;
  5. pulls cleaned samples until as many came back as were sent (or --timeout passes), and
     writes them to --out as JSON lines [timestamp, x, y, cov_xx, cov_xy, cov_yy, masked].
"""
import argparse, json, math, sys, time
import pylsl

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--name", required=True)
parser.add_argument("--clean-source-id", required=True)
parser.add_argument("--plan", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--rate", type=float, default=500.0)
parser.add_argument("--timeout", type=float, default=60.0)
args = parser.parse_args()
with open(args.plan) as f:
    plan = [json.loads(line) for line in f if line.strip()]

info = pylsl.StreamInfo(args.name, "Gaze", 4, args.rate, pylsl.cf_double64, "standin-" + args.name)
channels = info.desc().append_child("channels")
for label in ("pupil_diameter", "validity", "gaze_x", "gaze_y"):
    channels.append_child("channel").append_child_value("label", label)
outlet = pylsl.StreamOutlet(info)

found = pylsl.resolve_byprop("source_id", args.clean_source_id, 1, args.timeout)
if not found:
    print("the cleaned outlet never appeared", file=sys.stderr)
    sys.exit(3)
inlet = pylsl.StreamInlet(found[0], max_buflen=60)
inlet.open_stream(timeout=10)
if not outlet.wait_for_consumers(args.timeout):
    print("nothing consumed the raw outlet", file=sys.stderr)
    sys.exit(3)
print("pushing", flush=True)
received = []
next_send = time.monotonic()
for t, x, y in plan:
    while time.monotonic() < next_send:
        samples, stamps = inlet.pull_chunk(timeout=0.0)
        received += [[s] + list(v) for v, s in zip(samples, stamps)]
        time.sleep(0.0005)
    nan = float("nan")
    outlet.push_sample([3.1, 0.0 if x is None else 1.0, nan if x is None else x, nan if y is None else y], t)
    next_send += 1.0 / args.rate
deadline = time.monotonic() + args.timeout
while len(received) < len(plan) and time.monotonic() < deadline:
    samples, stamps = inlet.pull_chunk(timeout=0.2)
    received += [[s] + list(v) for v, s in zip(samples, stamps)]
with open(args.out, "w") as f:
    for row in received:
        f.write(json.dumps(row) + "\n")
print(f"received {len(received)}", flush=True)
sys.exit(0 if len(received) == len(plan) else 4)
