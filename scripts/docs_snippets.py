"""Runs every code snippet of the documentation against a real gazefilterd, so none can rot.

Run through `scripts/test-docs` (which `scripts/test` runs after the Swift tests). The rules,
also in README ("Documentation is tested"):

- Every code block of README.md and docs/*.md is a snippet: fenced blocks by their language,
  indented blocks (four spaces, after a blank line) as shell commands.
- `python` blocks run with the Python of `.venv` (pyzmq, pandas; scripts/setup makes it);
  `sh`, `bash`, `shell` and indented blocks run with `bash -euo pipefail`; `json` blocks must
  parse (a fragment of object members is read inside braces); other languages (`text`) are
  shown as they are.
- Each runs from the repository's root with the built tools (.build/debug) first on PATH, and
  must exit 0 within 120 s. A gazefilterd with no settings at all, started from another
  directory, is running throughout (its defaults: tcp://127.0.0.1:5555 in, :5556 out), inside a
  private network namespace so nothing else on the machine can collide with its ports.
- A block preceded by `<!-- snippet: background -->` is started in the background, the next
  blocks run, and at the end of its document it is interrupted (SIGINT): it must then exit 0
  and have printed something.
- A block preceded by `<!-- snippet: not runnable here (REASON) -->` is not run (the reason is
  required and reported); `<!-- snippets: not runnable here (REASON) -->` anywhere in a file
  marks all of its blocks (equations, for one).

Exit status: 0 when every snippet passed, 1 otherwise.
"""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Optional

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
MARKER = re.compile(r"^\s*<!--\s*snippet:\s*(.*?)\s*-->\s*$")
FILE_MARKER = re.compile(r"<!--\s*snippets:\s*not runnable here\s*\((.+?)\)\s*-->")
SHELL = {"sh", "bash", "shell"}
TIMEOUT = 120


@dataclass
class Snippet:
    """One code block: where it is, its language, its text, and its marker (if any)."""

    path: str
    line: int
    language: str
    text: str
    marker: Optional[str]

    @property
    def where(self) -> str:
        return f"{os.path.relpath(self.path, ROOT)}:{self.line}"


def snippets(path: str) -> list:
    """The code blocks of a Markdown file, in order."""
    lines = open(path, encoding="utf-8").read().split("\n")
    found, marker, index = [], None, 0
    previous_blank = True
    while index < len(lines):
        line = lines[index]
        match = MARKER.match(line)
        if match:
            marker = match.group(1)
            index += 1
            previous_blank = True
            continue
        fence = re.match(r"^(```+|~~~+)\s*([\w-]*)", line)
        if fence:
            start, language, body = index + 1, fence.group(2).lower(), []
            index += 1
            while index < len(lines) and not lines[index].startswith(fence.group(1)):
                body.append(lines[index])
                index += 1
            found.append(Snippet(path, start, language, "\n".join(body) + "\n", marker))
            marker, previous_blank = None, False
            index += 1
            continue
        if line.startswith("    ") and line.strip() and previous_blank:
            start, body = index + 1, []
            while index < len(lines) and (lines[index].startswith("    ") or not lines[index].strip()):
                body.append(lines[index][4:])
                index += 1
            while body and not body[-1].strip():
                body.pop()
            found.append(Snippet(path, start, "", "\n".join(body) + "\n", marker))
            marker, previous_blank = None, True
            continue
        if line.strip():
            marker = None if not line.lstrip().startswith("<!--") else marker
        previous_blank = not line.strip()
        index += 1
    return found


def not_runnable_reason(marker: Optional[str]) -> Optional[str]:
    """The reason of a `not runnable here (REASON)` marker, or None for other markers."""
    if marker is None:
        return None
    match = re.match(r"not runnable here\s*\((.+)\)\s*$", marker)
    if match:
        return match.group(1)
    if marker != "background":
        raise SystemExit(f"docs: unknown snippet marker \"{marker}\" (known: background, not runnable here (REASON))")
    return None


def command_for(snippet: Snippet, python: str) -> Optional[list]:
    if snippet.language == "python":
        return [python, "-c", snippet.text]
    if snippet.language in SHELL or snippet.language == "":
        return ["bash", "-euo", "pipefail", "-c", snippet.text]
    return None


def check_json(snippet: Snippet) -> Optional[str]:
    """None when a json block parses (alone, or as object members inside braces), else the problem."""
    try:
        json.loads(snippet.text)
        return None
    except json.JSONDecodeError as error:
        try:
            json.loads("{" + snippet.text + "}")
            return None
        except json.JSONDecodeError:
            return f"not valid JSON: {error}"


def start_daemon(environment: dict, work: str) -> subprocess.Popen:
    """gazefilterd with no settings, from a directory outside the repository; returns once it listens."""
    log = open(os.path.join(work, "gazefilterd.log"), "w")
    daemon = subprocess.Popen(["gazefilterd"], cwd=work, env=environment, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = open(os.path.join(work, "gazefilterd.log")).read()
        if "listening for" in text:
            return daemon
        if daemon.poll() is not None:
            raise SystemExit(f"docs: gazefilterd (no settings, from {work}) exited {daemon.returncode}:\n{text}")
        time.sleep(0.05)
    daemon.kill()
    raise SystemExit("docs: gazefilterd did not start listening within 30 s")


def finish_background(snippet: Snippet, process: subprocess.Popen) -> Optional[str]:
    """Interrupts a background snippet; None when it exits 0 having printed something."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C would: the whole group
    try:
        out, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        return f"did not stop within 20 s of SIGINT\n{out}{err}"
    if process.returncode != 0:
        return f"exited {process.returncode}\n{out}{err}"
    if not out.strip():
        return f"printed nothing\n{err}"
    print(f"    {snippet.where}: printed {len(out.splitlines())} lines, first: {out.splitlines()[0][:120]}")
    return None


def main() -> int:
    files = sys.argv[1:] or [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
    work = tempfile.mkdtemp(prefix="gazefilter-docs-")
    environment = dict(os.environ)
    environment["PATH"] = os.pathsep.join([os.path.join(ROOT, ".build", "debug"), os.path.join(ROOT, ".venv", "bin"), environment["PATH"]])
    environment["XDG_STATE_HOME"] = os.path.join(work, "state")  # the daemon's and the tools' state, not the user's
    environment.pop("STATE_DIRECTORY", None)
    environment["PYTHONUNBUFFERED"] = "1"
    python = os.path.join(ROOT, ".venv", "bin", "python")
    daemon = start_daemon(environment, work)
    failures, counts = [], {"run": 0, "json": 0, "shown": 0, "not runnable": 0}
    try:
        for path in files:
            text = open(path, encoding="utf-8").read()
            file_reason = FILE_MARKER.search(text)
            background = []
            for snippet in snippets(path):
                reason = file_reason.group(1) if file_reason else not_runnable_reason(snippet.marker)
                if reason:
                    counts["not runnable"] += 1
                    print(f"  skip {snippet.where}: not runnable here ({reason})")
                    continue
                if snippet.language == "json":
                    counts["json"] += 1
                    problem = check_json(snippet)
                    if problem:
                        failures.append((snippet, problem))
                    continue
                command = command_for(snippet, python)
                if command is None:
                    counts["shown"] += 1
                    continue
                counts["run"] += 1
                kind = snippet.language or "sh"
                if snippet.marker == "background":
                    print(f"  bg   {snippet.where} ({kind})")
                    background.append((snippet, subprocess.Popen(command, cwd=ROOT, env=environment, text=True, start_new_session=True,
                                                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)))
                    time.sleep(1.5)  # let it connect before the next blocks publish
                    continue
                started = time.monotonic()
                # Its own process group, so a timeout ends everything it started.
                process = subprocess.Popen(command, cwd=ROOT, env=environment, text=True, start_new_session=True,
                                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                try:
                    output, _ = process.communicate(timeout=TIMEOUT)
                    status = "ok" if process.returncode == 0 else f"exit {process.returncode}"
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    output, _ = process.communicate()
                    status = f"timed out after {TIMEOUT} s"
                print(f"  {'ok  ' if status == 'ok' else 'FAIL'} {snippet.where} ({kind}, {time.monotonic() - started:.1f} s)")
                if status != "ok":
                    failures.append((snippet, f"{status}\n{output}"))
            for snippet, process in background:
                problem = finish_background(snippet, process)
                if problem:
                    failures.append((snippet, problem))
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daemon.kill()
    if daemon.returncode != 0:
        failures.append((Snippet("gazefilterd", 0, "", "", None), f"the daemon exited {daemon.returncode}: "
                         + open(os.path.join(work, "gazefilterd.log")).read()))
    print(f"docs: {counts['run']} snippets run, {counts['json']} JSON blocks parsed, {counts['shown']} shown only, "
          f"{counts['not runnable']} marked not runnable here; {len(failures)} failed")
    for snippet, problem in failures:
        print(f"FAIL {snippet.where}: {problem}".rstrip())
        print("---\n" + snippet.text.rstrip() + "\n---")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
