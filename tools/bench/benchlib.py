"""Helpers shared by the benchmarks in tools/bench (stdlib only).

Processes: free_port, listening (a listener on 127.0.0.1:PORT, from
/proc/net/tcp), proc_table/tree (a process and its descendants).

Debian's Postfix without installing it: find_postfix(args) returns (root,
description) for --postfix-root DIR, the installed package, or the Debian
binary package fetched with `apt-get download postfix` and unpacked with
`dpkg-deb -x` into output/bench/postfix/ (reused by later runs; only missing
runtime libraries from its Depends are installed). Binaries run from ROOT
with LD_LIBRARY_PATH=ROOT/usr/lib/postfix (postfix_env).

Running a scratch Postfix: postfix_identities (mail_owner, setgid_group,
default_privs without creating users), become_subreaper/reap (orphaned
daemons come back to the bench), stop_tree (SIGTERM the master, then kill
by pid whatever still has its cwd in the scratch queue directory).
"""
import ctypes
import hashlib
import grp
import os
import pwd
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "../.."))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    """True when something listens on 127.0.0.1:port (no connection made)."""
    want = "0100007F:%04X" % port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[1] == want and parts[3] == "0A":
                return True
    return False


def proc_table():
    """{pid: (ppid, comm)} for every process."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        table[int(name)] = (ppid, comm)
    return table


def tree(root_pid):
    """{pid: comm} for root_pid and every process whose parent chain leads to it."""
    table = proc_table()
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = {}, [root_pid]
    while todo:
        pid = todo.pop()
        if pid in table:
            out[pid] = table[pid][1]
            todo.extend(children.get(pid, []))
    return out


def run_quiet(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s" % (" ".join(cmd), r.returncode,
                                                   r.stdout))
    return r.stdout


def postfix_binaries(root):
    return [os.path.join(root, "usr/lib/postfix/sbin", b)
            for b in ("master", "smtpd", "postlogd")]


def missing_libs(root):
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(root, "usr/lib/postfix"))
    missing = set()
    for b in postfix_binaries(root):
        out = subprocess.run(["ldd", b], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, universal_newlines=True,
                             env=env).stdout
        missing.update(l.split()[0] for l in out.splitlines() if "not found" in l)
    return sorted(missing)


def installed(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", pkg],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       universal_newlines=True)
    return r.returncode == 0 and r.stdout.endswith(" installed")


def fetch_postfix(cache):
    """Debian's postfix .deb unpacked under cache/root; returns (root, version)."""
    root = os.path.join(cache, "root")
    debs = sorted(f for f in os.listdir(cache) if f.startswith("postfix_")
                  and f.endswith(".deb")) if os.path.isdir(cache) else []
    if not (debs and os.path.exists(os.path.join(root, "usr/lib/postfix/sbin/master"))):
        os.makedirs(cache, exist_ok=True)
        for f in debs:
            os.unlink(os.path.join(cache, f))
        get = ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", "postfix"]
        try:
            run_quiet(get, cwd=cache)
        except RuntimeError:
            run_quiet(["apt-get", "update", "-q"])  # a fresh machine's lists
            run_quiet(get, cwd=cache)
        debs = sorted(f for f in os.listdir(cache) if f.startswith("postfix_")
                      and f.endswith(".deb"))
        tmp_root = tempfile.mkdtemp(prefix="root.", dir=cache)
        run_quiet(["dpkg-deb", "-x", os.path.join(cache, debs[-1]), tmp_root])
        shutil.rmtree(root, ignore_errors=True)
        os.rename(tmp_root, root)
    deb = os.path.join(cache, debs[-1])
    if missing_libs(root):
        # Runtime libraries only (libicu72, libdb5.3, libssl3, ...): installing
        # them conflicts with nothing; postfix itself is not installed.
        deps = run_quiet(["dpkg-deb", "-f", deb, "Depends"])
        libs = [d.split()[0] for d in deps.replace("|", ",").split(",")
                if d.strip().startswith("lib")
                and not installed(d.split()[0])]  # never upgrade libc6 & co
        print("installing Postfix's runtime libraries: %s" % " ".join(libs))
        run_quiet(["apt-get", "install", "-y", "-q", "--no-install-recommends"]
                  + libs, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    version = run_quiet(["dpkg-deb", "-f", deb, "Version"]).strip()
    return root, "Debian postfix %s, unpacked from %s (not installed)" % (
        version, os.path.relpath(deb, REPO) if deb.startswith(REPO) else deb)


def find_postfix(args):
    if args.postfix_root:
        root = os.path.abspath(args.postfix_root)
        env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(root, "usr/lib/postfix"))
        v = run_quiet([os.path.join(root, "usr/sbin/postconf"), "-d", "-h",
                       "mail_version"], env=env).strip()
        return root, "Postfix %s from %s" % (v, root)
    if os.path.exists("/usr/lib/postfix/sbin/master"):
        v = run_quiet(["dpkg-query", "-W", "-f", "${Version}", "postfix"]).strip()
        return "/", "Debian postfix %s, installed package" % v
    return fetch_postfix(os.path.join(REPO, "output/bench/postfix"))


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def group_exists(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def postfix_identities():
    """mail_owner, setgid_group, default_privs: existing, distinct, unprivileged."""
    if user_exists("postfix") and group_exists("postdrop"):
        return "postfix", "postdrop", "nobody"
    owner_gid = pwd.getpwnam("nobody").pw_gid
    for g in ("mail", "postdrop", "daemon", "users"):
        if group_exists(g) and grp.getgrnam(g).gr_gid not in (0, owner_gid):
            return "nobody", g, "daemon"
    raise RuntimeError("no group usable as Postfix's setgid_group")


def become_subreaper():
    """Orphaned Postfix daemons get reparented to us (not PID 1), so we reap them."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def stop_tree(master, pids, queue):
    """SIGTERM the master (it passes the signal on); then kill survivors by pid."""
    if master.poll() is None:
        master.send_signal(signal.SIGTERM)
        try:
            master.wait(10)
        except subprocess.TimeoutExpired:
            master.kill()
            master.wait(5)
    deadline = time.time() + 10
    while True:
        reap()
        # Known descendants, and anything still working in this instance's
        # queue directory (every Postfix daemon chdirs there).
        left = []
        for pid in set(pids) | set(int(p) for p in os.listdir("/proc") if p.isdigit()):
            try:
                if os.readlink("/proc/%d/cwd" % pid) == queue:
                    left.append(pid)
            except OSError:
                pass
        if not left:
            reap()
            return
        if time.time() > deadline:
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            deadline = time.time() + 5
        time.sleep(0.1)


def postfix_env(root):
    """The environment that runs binaries of the Postfix tree at root."""
    return dict(os.environ, LD_LIBRARY_PATH=os.path.join(root, "usr/lib/postfix"))


# ---- shared by accept.py and relay.py ----------------------------------------

CLK = os.sysconf("SC_CLK_TCK")


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def fs_type(path):
    """Filesystem type of the mount holding path (from /proc/self/mounts)."""
    path = os.path.realpath(path)
    best, kind = "", "?"
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            mnt = parts[1].replace("\\040", " ")
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and \
                    len(mnt) >= len(best):
                best, kind = mnt, parts[2]
    return kind


def wait_for(cond, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(step)


def proc_cpu(pid, children=False):
    """utime+stime (and cutime+cstime) of pid in seconds, None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = int(fields[11]) + int(fields[12])  # utime stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime cstime
    return ticks / float(CLK)


def own_cpu():
    """CPU seconds of the bench and everything it started, exited or not."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        total += ru.ru_utime + ru.ru_stime
    me = os.getpid()
    for pid in tree(me):
        if pid != me:
            total += proc_cpu(pid, children=True) or 0.0
    return total


def tree_cpu(master_pid):
    """CPU seconds of the master and all its daemons, live and reaped."""
    total = proc_cpu(master_pid, children=True) or 0.0
    for pid in tree(master_pid):
        if pid != master_pid:
            total += proc_cpu(pid) or 0.0
    return total


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def fmt(v, spec, none="-"):
    return none if v is None else spec % v


def ratio(a, b):
    if a is None or not b:
        return None
    return a / float(b)


# ---- what accept.py and relay.py share: smtp-source/sink, cells, set-up

class Tools:
    """smtp-source and smtp-sink from the Postfix tree at root, checked."""

    def __init__(self, root):
        self.root = root
        self.env = postfix_env(root)
        self.source = os.path.join(root, "usr/sbin/smtp-source")
        self.sink = os.path.join(root, "usr/sbin/smtp-sink")
        for b in (self.source, self.sink):
            if not os.access(b, os.X_OK):
                raise RuntimeError("%s is missing" % b)
            out = subprocess.run(["ldd", b], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT,
                                 universal_newlines=True, env=self.env).stdout
            miss = [l.split()[0] for l in out.splitlines() if "not found" in l]
            if miss:
                raise RuntimeError("%s: missing libraries %s" % (b, " ".join(miss)))


def bench_args(ap, quick, sessions):
    """The options every sessions x modes x sizes bench takes."""
    ap.add_argument("--tern", default=os.path.join(REPO, "output/x86_64/tern"))
    ap.add_argument("--quick", action="store_true",
                    help="a small subset: %s" % " ".join(
                        "%ds/%s/%s" % q for q in quick))
    ap.add_argument("--no-postfix", action="store_true", help="skip Postfix")
    ap.add_argument("--sessions", default=sessions)
    ap.add_argument("--modes", default="1,d",
                    help="1: one message per connection; d: smtp-source -d")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply the message counts")
    ap.add_argument("--postfix-root",
                    help="tree with usr/lib/postfix/sbin and usr/sbin ('/' if installed)")
    ap.add_argument("--tmpdir", default=os.path.join(REPO, "output/bench"),
                    help="where the scratch directory goes (same disk as the "
                         "repository by default; not tmpfs)")
    ap.add_argument("--timeout", type=float, default=300,
                    help="seconds one smtp-source run may take")
    ap.add_argument("--settle", type=float, default=20,
                    help="before each measured run, wait up to this many seconds "
                         "for other processes to leave the CPUs alone (0: don't)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the scratch directory (configs, logs, spools)")


def bench_cells(args, sizes, quick, size_table, cell_count):
    """The cells to run: --quick's, or sessions x modes x sizes."""
    if args.quick:
        cells = list(quick)
    else:
        cells = [(int(s), m, z) for s in args.sessions.split(",")
                 for m in args.modes.split(",") for z in sizes.split(",")]
    for s, m, z in cells:
        if m not in ("1", "d") or z not in size_table or s < 1:
            sys.exit("bad cell %s/%s/%s" % (s, m, z))
    return [{"sessions": s, "mode": m, "label": z, "size": size_table[z],
             "n": cell_count(s, m, size_table[z], args.scale, args.quick)}
            for s, m, z in cells]


def bench_start(args, prefix):
    """Checks, Postfix's tree and the scratch directory on a real disk.
    Returns (tools, description of the Postfix tree, scratch, fs type)."""
    if not args.no_postfix and os.geteuid() != 0:
        sys.exit("the Postfix comparison needs root (or --no-postfix)")
    if not os.access(args.tern, os.X_OK):
        sys.exit("no tern binary at %s (make -C %s)" % (args.tern, REPO))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    root, desc = find_postfix(args)
    tools = Tools(root)
    os.makedirs(args.tmpdir, exist_ok=True)
    kind = fs_type(args.tmpdir)
    if kind in ("tmpfs", "ramfs"):
        sys.exit("%s is on %s: fdatasync would cost nothing; use --tmpdir" %
                 (args.tmpdir, kind))
    base = tempfile.mkdtemp(prefix=prefix, dir=args.tmpdir)
    os.chmod(base, 0o755)  # Postfix's daemons run as mail_owner below it
    if not args.no_postfix:
        become_subreaper()
    return tools, desc, base, kind


def bench_banner(args, base, kind, desc, extra=()):
    """A private copy of tern (a rebuild during the run does not change the
    subject) and the lines that say what was measured where; its path."""
    binary = os.path.join(base, "tern")
    shutil.copy2(args.tern, binary)
    with open(binary, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    head = subprocess.run(["git", "-C", REPO, "log", "-1", "--format=%h %s"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          universal_newlines=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain",
                            "--untracked-files=no"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL,
                           universal_newlines=True).stdout.count("\n")
    print("tern: %s (sha256 %s, built %s); repository at %s%s" % (
        os.path.relpath(args.tern, REPO) if args.tern.startswith(REPO) else args.tern,
        digest, time.strftime("%Y-%m-%d %H:%M:%S UTC",
                              time.gmtime(os.stat(args.tern).st_mtime)),
        head[:100], ", %d files modified" % dirty if dirty else ""))
    for line in extra:
        print(line)
    print("smtp-source/smtp-sink%s: %s" % (
        "" if args.no_postfix else " and postfix", desc))
    print("scratch: %s (%s), %d CPUs, kernel %s, load average %s" % (
        base, kind, os.cpu_count(), os.uname().release, loadavg()))
    sys.stdout.flush()
    return binary


POSTFIX_QUEUES = ("public", "private", "incoming", "active", "deferred",
                  "defer", "bounce", "hold", "corrupt", "trace", "flush",
                  "saved", "maildrop")


def postfix_scratch(tmp, root):
    """A scratch Postfix under tmp (made 0755: its daemons run unprivileged):
    conf/, data/ and queue/ with every queue directory owned by mail_owner.
    Returns (conf, queue, the first lines of main.cf -- paths, the tree at
    root, identities, environment --, default_privs)."""
    owner, sgid, privs = postfix_identities()
    conf, queue, data = (os.path.join(tmp, d) for d in ("conf", "queue", "data"))
    os.chmod(tmp, 0o755)
    pw = pwd.getpwnam(owner)
    for d in (conf, os.path.join(queue, "pid"), data):
        os.makedirs(d, exist_ok=True)
    for d in POSTFIX_QUEUES:
        os.makedirs(os.path.join(queue, d), exist_ok=True)
        os.chown(os.path.join(queue, d), pw.pw_uid, pw.pw_gid)
    os.chown(data, pw.pw_uid, pw.pw_gid)
    r = root.rstrip("/")
    head = f"""\
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
meta_directory = {conf}
daemon_directory = {r}/usr/lib/postfix/sbin
command_directory = {r}/usr/sbin
shlib_directory = {r}/usr/lib/postfix
mail_owner = {owner}
setgid_group = {sgid}
default_privs = {privs}
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_LIBRARY_PATH
"""
    return conf, queue, head, privs
