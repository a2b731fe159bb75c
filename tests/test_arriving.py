"""A stream tagged as it arrives, by the real command: what has been read is answered without
waiting for input still to come, whatever the stream (a pipe, a terminal, a socket), however it
pauses (in a line, in a sentence), and whatever becomes of the forked helper.

No timing is asserted: a test holds its input back until the answer it expects has come, and
fails only if that takes longer than WAIT (minutes on the slowest machine, a hang otherwise)."""

import array
import fcntl
import os
import signal
import socket
import subprocess
import sys
import termios
import threading
import time

NERTAG = [sys.executable, "-m", "nertag"]
WAIT = 60  # seconds any answer may take on a slow, loaded machine (model load included)


class Output:
    """A process's output read by a thread as it comes: ``wait_for`` blocks until it
    satisfies a condition, or WAIT has passed."""

    def __init__(self, stream):
        self.data = b""
        self.ended = False
        self._changed = threading.Condition()
        self._stream = stream
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        fd = self._stream.fileno()
        while True:
            chunk = os.read(fd, 1 << 16)
            with self._changed:
                self.data += chunk
                self.ended = not chunk
                self._changed.notify_all()
            if not chunk:
                return

    def wait_for(self, condition):
        with self._changed:
            self._changed.wait_for(lambda: condition(self.data) or self.ended, WAIT)
            return condition(self.data)

    def all(self):
        self._thread.join(WAIT)
        return self.data


def _start(model, args=(), stdin=subprocess.PIPE):
    return subprocess.Popen(NERTAG + ["tag", "-m", str(model), *args], stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc, output):
    data = output.all()
    err = proc.stderr.read().decode()
    proc.wait(WAIT)
    assert proc.returncode == 0 and "Traceback" not in err, err
    return data, err


def _lines(n):
    return lambda data: data.count(b"\n") >= n


def _stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait()


# ---------------------------------------------------- a terminal, a socket: a line at a time

def _answers_each_line_before_the_next(model, proc, send):
    output = Output(proc.stdout)
    try:
        send(b"Harry Potter met Hermione\n")
        assert output.wait_for(_lines(1)), "no answer to the first line before the second"
        send(b"Ron went to Paris\n")
        assert output.wait_for(_lines(2)), "no answer to the second line"
        return output
    except BaseException:
        _stop(proc)
        raise


def test_a_terminal_gets_each_line_answered_before_the_next(sample_model_path):
    master, slave = os.openpty()
    proc = _start(sample_model_path, stdin=slave)
    os.close(slave)
    try:
        output = _answers_each_line_before_the_next(
            sample_model_path, proc, lambda data: os.write(master, data))
        os.write(master, b"\x04")  # Ctrl-D at a line start: the end of the input
        data, _ = _finish(proc, output)
    finally:
        os.close(master)
    assert data.count(b"\n") == 2


def test_a_socket_as_stdin_gets_each_line_answered_before_the_next(sample_model_path):
    ours, theirs = socket.socketpair()
    proc = _start(sample_model_path, stdin=theirs)
    theirs.close()
    try:
        output = _answers_each_line_before_the_next(sample_model_path, proc, ours.sendall)
        ours.shutdown(socket.SHUT_WR)
        data, _ = _finish(proc, output)
    finally:
        ours.close()
    assert data.count(b"\n") == 2


# ---------------------------------------- a fast burst, then a pause inside a line or sentence

def _burst_then_pause(model, tmp_path, args, burst, piece, rest, answered):
    """``burst`` written at once, then ``piece`` (the start of a record), then nothing until
    ``answered(output)`` holds (or WAIT passed), then ``rest``: the burst's answers must not
    wait for the record to be completed. The whole output is the bytes of the file's."""
    whole = tmp_path / "whole.txt"
    whole.write_bytes(burst + piece + rest)
    expected = subprocess.run(NERTAG + ["tag", "-m", str(model), *args, "-i", str(whole)],
                              capture_output=True, timeout=WAIT * 3, check=True).stdout
    proc = _start(model, args)
    output = Output(proc.stdout)
    try:
        _widen(proc.stdin, len(burst))
        proc.stdin.write(burst)
        proc.stdin.flush()
        # the start of the paused record comes in a read of its own, while the burst (read at
        # once, in several jobs) is still being tagged
        output.wait_for(len)
        _until_read(proc.stdin)
        proc.stdin.write(piece)
        proc.stdin.flush()
        complete = output.wait_for(answered)
        proc.stdin.write(rest)
        proc.stdin.close()
        data, _ = _finish(proc, output)
    finally:
        _stop(proc)
    assert complete, "the burst's answers waited for the paused record"
    assert data == expected


def _widen(pipe, size):
    """Let ``pipe`` hold ``size`` bytes (where the system allows): a burst written before the
    reader has started is then read at once, in one batch of several jobs."""
    try:
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, size)
    except OSError:
        pass


def _until_read(pipe):
    """Until the reader has taken every byte written to ``pipe``."""
    count = array.array("i", [0])
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        fcntl.ioctl(pipe.fileno(), termios.FIONREAD, count)
        if not count[0]:
            return
        time.sleep(0.001)


def test_burst_then_a_pause_inside_a_line(sample_model_path, tmp_path):
    burst = "".join(f"Harry Potter met Ada Lovelace {i} times in London .\n"
                    for i in range(15_000)).encode()
    _burst_then_pause(sample_model_path, tmp_path, [], burst, b"Ron went", b" to Paris\n",
                      _lines(15_000))


def _sentences(n):
    return "".join(f"Harry\nPotter\nmet\nAda\n{i}\n\n" for i in range(n)).encode()


CONLL = ["--input-format", "conll", "-f", "conll"]


def test_conll_burst_then_a_pause_inside_a_sentence(sample_model_path, tmp_path):
    _burst_then_pause(sample_model_path, tmp_path, CONLL, _sentences(20_000), b"Ron\nwent\n",
                      b"to\nParis\n\n", lambda data: data.count(b"\n\n") >= 20_000)


def test_conll_burst_then_a_pause_after_a_document_start(sample_model_path, tmp_path):
    _burst_then_pause(sample_model_path, tmp_path, CONLL, _sentences(20_000),
                      b"-DOCSTART- O\n", b"\nto\nParis\n\n",
                      lambda data: data.count(b"\n\n") >= 20_000)


# ------------------------------------------------------------------- a helper that dies

def _children(pid):
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(child) for child in found.stdout.split()]


def test_a_killed_helper_loses_nothing_and_stops_nothing(sample_model_path, tmp_path):
    """The helper killed (as by the OOM killer) while a stream that stays open arrives fast:
    this process tags on alone, answers all that arrives before the stream ends, says so on
    stderr, and writes the bytes one process writes."""
    lines = [f"Harry Potter met Ada Lovelace {i} times in London .\n" for i in range(60_000)]
    first, second = "".join(lines[:40_000]).encode(), "".join(lines[40_000:]).encode()
    whole = tmp_path / "whole.txt"
    whole.write_bytes(first + second)
    expected = subprocess.run(NERTAG + ["tag", "-m", str(sample_model_path), "-i", str(whole)],
                              capture_output=True, timeout=WAIT * 3, check=True).stdout
    proc = _start(sample_model_path)
    output = Output(proc.stdout)
    killed = threading.Event()

    def feed():
        try:
            proc.stdin.write(first)
            proc.stdin.flush()
            killed.wait(WAIT)
            proc.stdin.write(second)
            proc.stdin.flush()  # and the stream stays open
        except BrokenPipeError:
            pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        deadline = time.monotonic() + WAIT
        while not _children(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        helpers = _children(proc.pid)
        assert helpers, "the fast stream got no helper"
        os.kill(helpers[0], signal.SIGKILL)
        killed.set()
        answered = output.wait_for(_lines(len(lines)))
        feeder.join(WAIT)
        proc.stdin.close()
        data, err = _finish(proc, output)
    finally:
        killed.set()
        _stop(proc)
    assert answered, "answers stopped with the helper while the stream was open"
    assert data == expected
    assert "helper process was killed by SIGKILL" in err


def test_a_helper_killed_while_idle_is_noticed_at_the_next_input(sample_model_path):
    """The helper killed after a burst has been answered, while the stream waits: the next line
    is answered by this process, and the warning comes then, not at the end of the input."""
    proc = _start(sample_model_path)
    output = Output(proc.stdout)
    try:
        proc.stdin.write("".join(f"Harry Potter met Ada Lovelace {i} times in London .\n"
                                 for i in range(40_000)).encode())
        proc.stdin.flush()
        assert output.wait_for(_lines(40_000)), "the burst was not answered"
        helpers = _children(proc.pid)
        assert helpers, "the fast stream got no helper"
        os.kill(helpers[0], signal.SIGKILL)
        deadline = time.monotonic() + WAIT
        while not _dead(helpers[0]) and time.monotonic() < deadline:
            time.sleep(0.05)  # until the kill has landed
        proc.stdin.write(b"Ron went to Paris\n")
        proc.stdin.flush()
        assert output.wait_for(_lines(40_001)), "the line after the helper died was not answered"
        assert not _children(proc.pid), "the dead helper was not reaped at the next input"
        proc.stdin.close()
        data, err = _finish(proc, output)
    finally:
        _stop(proc)
    assert b"Paris" in data.splitlines()[-1] and data.count(b"\n") == 40_001
    assert err.count("helper process was killed by SIGKILL") == 1


def _dead(pid):
    """Whether a child process has ended (a zombie, not yet reaped, or gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
