#!/usr/bin/env python3
"""A stand-in LSL eye tracker for gazefilter's tests, on real liblsl (from pylsl).

Publishes raw gaze as an LSL outlet the way Tobii's and EyeLink's LSL apps do (double64
channels with labels; NaN where a sample was lost), and reads a cleaned stream back through
an LSL inlet:
  1. makes the raw outlet (--name, type Gaze, channels pupil_diameter, validity, gaze_x, gaze_y);
  2. resolves the cleaned outlet by --clean-source-id and opens an inlet on it;
  3. waits until something consumes the raw outlet (gazefilter-lsl in);
  4. pushes the plan's samples (--plan: JSON lines [t, x, y], null for NaN) at --rate, each
     stamped with its t; a plan of [t, lx, ly, rx, ry] lines makes a binocular tracker (channels
     left_gaze_x, left_gaze_y, right_gaze_x, right_gaze_y, validity, as Tobii's LSL app names
     each eye's);
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

binocular = bool(plan) and len(plan[0]) == 5
labels = ("left_gaze_x", "left_gaze_y", "right_gaze_x", "right_gaze_y", "validity") if binocular else ("pupil_diameter", "validity", "gaze_x", "gaze_y")
info = pylsl.StreamInfo(args.name, "Gaze", len(labels), args.rate, pylsl.cf_double64, "standin-" + args.name)
channels = info.desc().append_child("channels")
for label in labels:
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
nan = float("nan")
for row in plan:
    while time.monotonic() < next_send:
        samples, stamps = inlet.pull_chunk(timeout=0.0)
        received += [[s] + list(v) for v, s in zip(samples, stamps)]
        time.sleep(0.0005)
    t, values = row[0], [nan if v is None else v for v in row[1:]]
    if binocular:
        outlet.push_sample(values + [1.0], t)
    else:
        outlet.push_sample([3.1, 0.0 if row[1] is None else 1.0] + values, t)
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
