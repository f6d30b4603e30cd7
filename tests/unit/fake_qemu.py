"""A stand-in for qemu-system-*: speaks just enough of QEMU's outside world for BootSession.

It reads the argv faultlab builds and then: serves the serial console on the chardev socket
(waiting for the client like wait=on), serves QMP on the -qmp socket, and runs a paramiko
SSH server on the hostfwd port that executes commands with the host's /bin/sh.
Behaviour is chosen with FAKE_QEMU_SCENARIO:
  ok          boot text, SSH, "faultlab-guest: sshd ready"
  panic       boot text, a kernel panic, exit 0 (like -no-reboot after panic=-1)
  silent      boot text, never any SSH
  hostfwd     fail at start like QEMU when the forwarding port is taken
  badarg      fail at start with an argument error
  nobios      fail at start: BIOS file not found
  kvm-fail    with -accel kvm: "KVM internal error" on stderr and a stopped VM; else ok
  vm-exit     boot text, then the VM stops (QMP status "paused") like a VOF "exit"
Guest commands "trigger-warn" and "trigger-panic" print a WARNING / panic on the console
(trigger-panic then exits, dropping SSH); "fake-console JSON" prints the lines of the JSON
list on the console (any kernel report a test scripts); "trigger-stop" stops the VM (status
"internal-error") and never answers. FAKE_QEMU_AUTHORIZED names the authorized .pub file.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

BOOT = [
    "[    0.000000] Linux version 6.12.8-faultlab (fake) #1 SMP",
    "[    0.010000] Kernel command line: {append}",
    "[    0.300000] DMAR: Intel(R) Virtualization Technology for Directed I/O",
    "[    0.800000] Run /init as init process",
]
PANIC = [
    "[    0.820900] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)",
    "[    0.821000] CPU: 0 UID: 0 PID: 1 Comm: swapper/0 Not tainted 6.12.8-faultlab #1",
    "[    0.821200] Call Trace:",
    "[    0.821300]  <TASK>",
    "[    0.821400]  dump_stack_lvl+0x5d/0x80",
    "[    0.821500]  panic+0x118/0x2c8",
    "[    0.822400]  </TASK>",
    "[    0.822600] ---[ end Kernel panic - not syncing: VFS: Unable to mount root fs on "
    "unknown-block(0,0) ]---",
]
WARN = [
    "[    7.400100] ------------[ cut here ]------------",
    "[    7.400500] WARNING: CPU: 1 PID: 187 at drivers/iommu/intel/iommu.c:3457 "
    "intel_iommu_attach_device+0x7d/0xb0",
    "[    7.401100] Modules linked in:",
    "[    7.405400] ---[ end trace 0000000000000000 ]---",
]


def arg_after(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else None


def opt(spec: str, key: str) -> str:
    for part in spec.split(","):
        if part.startswith(key + "="):
            return part.split("=", 1)[1]
    raise SystemExit(f"fake-qemu: no {key}= in {spec}")


class Console:
    def __init__(self, path: str) -> None:
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(1)
        self.conn, _ = self.server.accept()  # wait=on
        self.log: list[str] = []
        self.lock = threading.Lock()

    def say(self, *lines: str) -> None:
        with self.lock:
            for line in lines:
                self.log.append(line)
                with contextlib.suppress(OSError):
                    self.conn.sendall((line + "\r\n").encode())


class QMPServer(threading.Thread):
    def __init__(self, path: str, state: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.state = state

    def run(self) -> None:
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn: socket.socket) -> None:
        greeting = {
            "QMP": {
                "version": {"qemu": {"micro": 0, "minor": 2, "major": 9}, "package": ""},
                "capabilities": [],
            }
        }
        conn.sendall(json.dumps(greeting).encode() + b"\n")
        # Like QEMU, parse a stream of JSON objects (the client sends no newlines).
        decoder = json.JSONDecoder()
        buf = ""
        while True:
            data = conn.recv(4096)
            if not data:
                return
            buf += data.decode()
            while buf.strip():
                try:
                    msg, end = decoder.raw_decode(buf.lstrip())
                except ValueError:
                    break
                buf = buf.lstrip()[end:]
                name = msg.get("execute")
                reply: dict[str, object] = {"return": {}}
                if name == "query-status":
                    status = self.state["status"]
                    reply = {"return": {"status": status, "running": status == "running"}}
                if "id" in msg:
                    reply["id"] = msg["id"]
                conn.sendall(json.dumps(reply).encode() + b"\n")
                if name == "quit":
                    os._exit(0)


class SSHServer(paramiko.ServerInterface):
    def __init__(self, authorized: str) -> None:
        self.authorized = authorized
        self.commands: dict[int, str] = {}
        self.cond = threading.Condition()

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if username == "root" and key.get_base64() == self.authorized:
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_UNKNOWN_CHANNEL_TYPE

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        with self.cond:
            self.commands[channel.get_id()] = command.decode()
            self.cond.notify_all()
        return True

    def check_channel_pty_request(self, channel: paramiko.Channel, *args: object) -> bool:
        return True

    def check_channel_window_change_request(self, channel: paramiko.Channel, *a: object) -> bool:
        return True

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        with self.cond:
            self.commands[channel.get_id()] = "__shell__"
            self.cond.notify_all()
        return True

    def wait_command(self, chanid: int, timeout: float) -> str | None:
        with self.cond:
            self.cond.wait_for(lambda: chanid in self.commands, timeout)
            return self.commands.pop(chanid, None)


def host_key() -> paramiko.PKey:
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode()))


def shell(channel: paramiko.Channel) -> None:
    """An interactive shell session: pump the channel to and from a host `sh`."""
    proc = subprocess.Popen(
        ["sh"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    def feed() -> None:
        while True:
            data = channel.recv(4096)
            if not data:
                break
            with contextlib.suppress(BrokenPipeError):
                stdin.write(data)
                stdin.flush()
        with contextlib.suppress(BrokenPipeError):
            stdin.close()

    threading.Thread(target=feed, daemon=True).start()
    for chunk in iter(lambda: stdout.read1(4096), b""):
        channel.sendall(chunk)
    channel.send_exit_status(proc.wait())
    channel.close()


def serve_ssh(port: int, console: Console, authorized: str, state: dict[str, str]) -> None:
    key = host_key()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(8)

    def handle(conn: socket.socket) -> None:
        transport = paramiko.Transport(conn)
        transport.add_server_key(key)
        server = SSHServer(authorized)
        try:
            transport.start_server(server=server)
        except (paramiko.SSHException, EOFError):
            return
        while transport.is_active():
            channel = transport.accept(1)
            if channel is None:
                continue
            command = server.wait_command(channel.get_id(), 10)
            if command is None:
                channel.close()
                continue
            threading.Thread(target=run, args=(channel, command, console), daemon=True).start()

    def run(channel: paramiko.Channel, command: str, console: Console) -> None:
        if command == "trigger-warn":
            console.say(*WARN)
            channel.sendall(b"warned\n")
            channel.send_exit_status(0)
        elif command == "trigger-panic":
            console.say(*PANIC)
            time.sleep(0.2)
            os._exit(0)
        elif command.startswith("fake-console "):
            console.say(*json.loads(command.removeprefix("fake-console ")))
            channel.send_exit_status(0)
        elif command == "trigger-stop":
            state["status"] = "internal-error"
            time.sleep(1000)
        elif command == "__shell__":
            shell(channel)
            return
        elif command == "zcat /proc/config.gz":
            # The guest kernel's config: FAKE_QEMU_KCONFIG names a .config file, else the
            # kernel has no /proc/config.gz (never the host's own).
            kconfig = os.environ.get("FAKE_QEMU_KCONFIG")
            if kconfig:
                with open(kconfig, "rb") as f:
                    channel.sendall(f.read())
            channel.send_exit_status(0 if kconfig else 1)
        elif command == "dmesg":
            with console.lock:
                channel.sendall(("\n".join(console.log) + "\n").encode())
            channel.send_exit_status(0)
        else:
            # A command whose stdin the client feeds ("cat > FILE") gets it, to end-of-file.
            data = b""
            if command.startswith("cat > "):
                while chunk := channel.recv(65536):
                    data += chunk
            proc = subprocess.run(
                ["sh", "-c", command], input=data, capture_output=True, timeout=60
            )
            channel.sendall(proc.stdout)
            channel.sendall_stderr(proc.stderr)
            channel.send_exit_status(proc.returncode)
        channel.shutdown_write()
        channel.close()

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def main(argv: list[str]) -> int:
    scenario = os.environ.get("FAKE_QEMU_SCENARIO", "ok")
    chardev = arg_after(argv, "-chardev") or ""
    qmp_spec = (arg_after(argv, "-qmp") or "").removeprefix("unix:").split(",")[0]
    netdev = arg_after(argv, "-netdev") or ""
    port = int(netdev.split("hostfwd=tcp:127.0.0.1:")[1].split("-")[0])
    accel = arg_after(argv, "-accel")
    append = arg_after(argv, "-append") or ""
    if scenario == "hostfwd":
        print(
            f"qemu-system-x86_64: -netdev {netdev}: Could not set up host forwarding rule "
            f"'tcp:127.0.0.1:{port}-:22'",
            file=sys.stderr,
        )
        return 1
    if scenario == "nobios":
        print(f"waiting on {opt(chardev, 'path')}", file=sys.stderr)
        print("qemu: could not load PC BIOS 'bios-256k.bin'", file=sys.stderr)
        return 1
    if scenario == "badarg":
        print(
            "qemu-system-x86_64: -device foo: 'foo' is not a valid device model name",
            file=sys.stderr,
        )
        return 1
    print(
        f"QEMU waiting for connection on: disconnected:unix:{opt(chardev, 'path')},server=on",
        file=sys.stderr,
        flush=True,
    )
    console = Console(opt(chardev, "path"))
    state = {"status": "running"}
    QMPServer(qmp_spec, state).start()
    console.say(*[line.format(append=append) for line in BOOT])
    if scenario == "kvm-fail" and accel == "kvm":
        print("KVM internal error. Suberror: 1\nemulation failure", file=sys.stderr, flush=True)
        state["status"] = "internal-error"
        time.sleep(1000)
        return 0
    if scenario == "panic" or "rdinit=/nonexistent" in append:
        console.say(*PANIC)
        time.sleep(0.2)
        return 0
    if scenario == "vm-exit":
        print('qemu-system-ppc64: Stopped as the VM requested "exit"', file=sys.stderr, flush=True)
        state["status"] = "paused"
        time.sleep(1000)
        return 0
    if scenario == "silent":
        time.sleep(1000)
        return 0
    with open(os.environ["FAKE_QEMU_AUTHORIZED"]) as pub:
        authorized = pub.read().split()[1]
    threading.Thread(target=serve_ssh, args=(port, console, authorized, state), daemon=True).start()
    time.sleep(0.3)
    console.say("faultlab-guest: sshd ready")
    while True:
        time.sleep(1000)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
