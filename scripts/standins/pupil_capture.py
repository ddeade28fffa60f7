#!/usr/bin/env python3
"""A stand-in Pupil Capture, written from Pupil's documented network API, for gazefilter's tests.

Pupil Remote: a REP socket (tcp://127.0.0.1:PORT) answering "SUB_PORT", "PUB_PORT" and "t"
(Pupil time) as Pupil Capture does (anything else gets "Unknown command.").
IPC backbone: an XPUB socket (SUB_PORT) that subscribers connect to and an XSUB socket
(PUB_PORT) whose messages are forwarded to it, each on a random port, as Pupil's backbone
proxy is. Datums are published as multipart messages: the topic, then a msgpack map
(use_bin_type=True), sometimes followed by a binary frame (Pupil's raw-data attachments).

The plan (--plan FILE, one JSON object per line) says what to publish, in order:
  {"topic": "gaze.3d.01.", "timestamp": t, "norm_pos": [x, y], "confidence": c}
      a gaze datum; made Pupil-shaped here: nested base_data of two pupil datums, 3D fields,
      eye_centers_3d with integer keys;
  {"topic": "surfaces.NAME", "timestamp": t, "gaze_on_surfaces": [{"timestamp", "norm_pos", "confidence", "on_surf"}, ...]}
      a surface event (transforms, fixations and base_data added here);
  {"restart": true}
      Pupil quits and starts again: every socket and the context are closed, Pupil Remote is
      bound again at the same port, the backbone at new random ports.
Before each publishing phase it waits (up to --wait seconds) until someone subscribed to the
backbone, then publishes at --rate messages per second. It prints "remote PORT" once bound
and "backbone SUB_PORT" after each (re)start, and exits 0 when the plan is done (3 when no
subscriber came).
"""
import argparse, json, os, sys, time
import msgpack, zmq


class Capture:
    def __init__(self, remote_port):
        self.context = zmq.Context()
        self.remote = self.context.socket(zmq.REP)
        self.remote.bind(f"tcp://127.0.0.1:{remote_port}")
        self.remote_port = int(self.remote.getsockopt(zmq.LAST_ENDPOINT).decode().rsplit(":", 1)[1])
        self.xpub = self.context.socket(zmq.XPUB)
        self.xpub.bind("tcp://127.0.0.1:*")
        self.xsub = self.context.socket(zmq.XSUB)
        self.xsub.bind("tcp://127.0.0.1:*")
        self.sub_port = int(self.xpub.getsockopt(zmq.LAST_ENDPOINT).decode().rsplit(":", 1)[1])
        self.pub_port = int(self.xsub.getsockopt(zmq.LAST_ENDPOINT).decode().rsplit(":", 1)[1])
        self.subscriptions = set()
        self.started = time.monotonic()
        self.poller = zmq.Poller()
        for s in (self.remote, self.xpub, self.xsub):
            self.poller.register(s, zmq.POLLIN)

    def serve(self, timeout_ms):
        """Answers Pupil Remote and moves backbone traffic for up to timeout_ms."""
        for socket, _ in self.poller.poll(timeout_ms):
            if socket is self.remote:
                request = self.remote.recv_string()
                if request == "SUB_PORT":
                    self.remote.send_string(str(self.sub_port))
                elif request == "PUB_PORT":
                    self.remote.send_string(str(self.pub_port))
                elif request == "t":
                    self.remote.send_string(repr(time.monotonic() - self.started))
                else:
                    self.remote.send_string("Unknown command.")
            elif socket is self.xpub:
                frame = self.xpub.recv()
                if frame[:1] == b"\x01":
                    self.subscriptions.add(frame[1:].decode(errors="replace"))
                self.xsub.send(frame)
            elif socket is self.xsub:
                self.xpub.send_multipart(self.xsub.recv_multipart())

    def close(self):
        for s in (self.remote, self.xpub, self.xsub):
            s.close(linger=0)
        self.context.term()


def pupil_datum(eye, timestamp, confidence):
    return {"topic": f"pupil.{eye}.3d", "id": eye, "timestamp": timestamp - 0.002, "confidence": confidence,
            "norm_pos": [0.4 + 0.1 * eye, 0.6], "diameter": 31.5, "method": "3d c++",
            "ellipse": {"center": [96.2, 101.7], "axes": [30.1, 33.2], "angle": 81.3},
            "circle_3d": {"center": [-1.2, 0.3, 40.1], "normal": [-0.2, 0.1, -0.97], "radius": 2.1},
            "sphere": {"center": [1.1, -2.0, 52.0], "radius": 12.0}, "diameter_3d": 4.2}


def gaze_message(entry):
    datum = {"topic": entry["topic"], "norm_pos": entry["norm_pos"], "confidence": entry["confidence"],
             "timestamp": entry["timestamp"],
             "gaze_point_3d": [12.0, -40.5, 480.0],
             "eye_centers_3d": {0: [20.1, 15.2, -20.0], 1: [-40.2, 14.9, -21.0]},
             "gaze_normals_3d": {0: [0.1, -0.1, 0.99], 1: [0.12, -0.1, 0.98]},
             "base_data": [pupil_datum(0, entry["timestamp"], entry["confidence"]),
                           pupil_datum(1, entry["timestamp"], entry["confidence"])]}
    return datum


def surface_message(entry):
    name = entry["topic"].split(".", 1)[1]
    gaze = [{"topic": "gaze.3d.01._on_surface", "norm_pos": g["norm_pos"], "confidence": g["confidence"],
             "on_surf": g.get("on_surf", True), "base_data": ["gaze.3d.01.", g["timestamp"]], "timestamp": g["timestamp"]}
            for g in entry["gaze_on_surfaces"]]
    return {"topic": entry["topic"], "name": name,
            "surf_to_img_trans": [[-394.3, 63.0, 833.1], [24.9, 264.2, 171.1], [-0.003, 0.074, 1.0]],
            "img_to_surf_trans": [[-0.0026, 0.00002, 2.12], [0.00026, 0.0040, -0.90], [-0.00003, -0.0003, 1.07]],
            "gaze_on_surfaces": gaze,
            "fixations_on_surfaces": [{"topic": "fixations_on_surface", "norm_pos": [0.5, 0.5], "confidence": 0.9,
                                       "on_surf": True, "base_data": ["fixations", entry["timestamp"]],
                                       "timestamp": entry["timestamp"], "duration": 212.0, "dispersion": 1.1}],
            "timestamp": entry["timestamp"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--remote-port", type=int, default=50020, help="Pupil Remote's port (0: any free port)")
    parser.add_argument("--plan", required=True, help="JSON lines: datums to publish and restarts")
    parser.add_argument("--rate", type=float, default=500.0, help="messages per second")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for a subscriber per phase")
    parser.add_argument("--subscriptions", default="", help="comma-separated topic prefixes to wait for (default: any one)")
    parser.add_argument("--start-file", help="wait until this file exists before publishing anything")
    parser.add_argument("--restart-pause", type=float, default=0.5, help="seconds Pupil is away at a restart")
    args = parser.parse_args()
    with open(args.plan) as f:
        plan = [json.loads(line) for line in f if line.strip()]

    expected = {p for p in args.subscriptions.split(",") if p}
    capture = Capture(args.remote_port)
    print(f"remote {capture.remote_port}", flush=True)
    print(f"backbone {capture.sub_port}", flush=True)
    remote_port = capture.remote_port
    publisher = None
    index = 0
    phase_ready = False
    sent = 0
    while index < len(plan):
        entry = plan[index]
        if entry.get("restart"):
            drain(capture, publisher)  # what was sent is delivered before Pupil quits
            publisher = None
            capture.close()
            time.sleep(args.restart_pause)
            capture = Capture(remote_port)
            print(f"backbone {capture.sub_port}", flush=True)
            phase_ready = False
            index += 1
            continue
        if not phase_ready:
            deadline = time.monotonic() + args.wait
            def ready():
                if args.start_file and not os.path.exists(args.start_file):
                    return False
                return expected <= capture.subscriptions if expected else bool(capture.subscriptions)
            while not ready() and time.monotonic() < deadline:
                capture.serve(20)
            if not ready():
                print("no subscriber came", file=sys.stderr)
                return 3
            # Plugins publish through PUB_PORT, as in Pupil: a PUB socket connected to the XSUB side.
            publisher = capture.context.socket(zmq.PUB)
            publisher.connect(f"tcp://127.0.0.1:{capture.pub_port}")
            settle = time.monotonic() + 0.3  # the XSUB learns the subscriptions it forwards
            while time.monotonic() < settle:
                capture.serve(10)
            phase_ready = True
            next_send = time.monotonic()
        now = time.monotonic()
        if now < next_send:
            capture.serve(max(0, int((next_send - now) * 1000)))
            continue
        message = surface_message(entry) if entry["topic"].startswith("surfaces.") else gaze_message(entry)
        frames = [entry["topic"].encode(), msgpack.packb(message, use_bin_type=True)]
        if sent % 7 == 3:
            frames.append(b"\x00\x01binary-attachment")  # extra frames are Pupil's binary payloads
        publisher.send_multipart(frames)
        capture.serve(0)
        sent += 1
        index += 1
        next_send += 1.0 / args.rate
    drain(capture, publisher)
    capture.close()
    return 0


def drain(capture, publisher):
    """Keeps the backbone moving for half a second so what was sent reaches the subscribers."""
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        capture.serve(10)
    if publisher is not None:
        publisher.close(linger=1000)


if __name__ == "__main__":
    sys.exit(main())
