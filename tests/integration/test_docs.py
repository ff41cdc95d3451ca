"""The manual pages and the bash completion say what the code does.

- Every man page renders without a groff warning (as lintian runs man), has a valid
  whatis entry and the sections a reader expects, and writes options with \\- (a real
  minus, so that copy and paste works).
- Every option outpostd and outpostctl accept (from --help and from the sources) is in
  their man page; every key the config loader reads is in outpost.yaml(5), every
  documented key exists, and the configurations shown there (and shipped in
  daemon/examples) are valid.
- The completion script completes commands, `show` targets from the running daemon (or
  a fallback), `config check` files, and passes -s on to outpostctl.

No root needed. Binaries come from $OUTPOST_BUILD (default "build"): make BUILD=build-docs
then OUTPOST_BUILD=build-docs /usr/bin/python3 -m pytest -q tests/integration/test_docs.py
"""

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

# For tests/integration/conftest.py: these tests need no root (no namespaces, no lab).
NEEDS_ROOT = False

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("OUTPOST_BUILD", "build"))
if not BUILD.is_absolute():
    BUILD = REPO / BUILD
OUTPOSTD = BUILD / "daemon" / "outpostd"
OUTPOSTCTL = BUILD / "daemon" / "outpostctl"
MAN = REPO / "daemon" / "man"
COMPLETION = REPO / "daemon" / "completion" / "outpostctl"
PROFILES = REPO / "daemon" / "profiles"
LOADER = REPO / "daemon" / "config_loader.cc"

PAGES = {
    "outpostd.8": ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SIGNALS", "EXIT STATUS",
                   "ENVIRONMENT", "FILES", "EXAMPLES", "SEE ALSO"],
    "outpostctl.8": ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "EXIT STATUS",
                     "ENVIRONMENT", "FILES", "EXAMPLES", "SEE ALSO", "CONTROL PROTOCOL"],
    "outpost.yaml.5": ["NAME", "SYNOPSIS", "DESCRIPTION", "FILES", "EXAMPLES", "SEE ALSO",
                       "VENDOR PROFILES", "CROSS-CHECKS"],
}


def need_binary(path):
    if not path.exists():
        pytest.fail(f"{path} is missing: build first (make BUILD={BUILD.name}, "
                    f"then OUTPOST_BUILD={BUILD.name})")
    return str(path)


def run(argv, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 60)
    return subprocess.run([str(a) for a in argv], **kw)


def render(page):
    """The page as plain text: wide lines, no overstrike, no hyphenation."""
    r = run(["groff", "-man", "-Tutf8", "-rLL=300n", "-rHY=0", MAN / page],
            env=dict(os.environ, LC_ALL="C.UTF-8"))
    assert r.returncode == 0, r.stderr
    return re.sub(r".\x08", "", r.stdout)


def mentions(text, word):
    return re.search(r"(?<![\w.-])" + re.escape(word) + r"(?![\w-])", text) is not None


def section_of(text, title):
    """The rendered text of one .SH section."""
    m = re.search(r"^" + re.escape(title) + r"\n(.*?)(?=^\S)", text, re.M | re.S)
    assert m, f"no section {title}"
    return m.group(1)


# ---------------------------------------------------------------------------------------
# Rendering and form

@pytest.mark.parametrize("page", sorted(PAGES))
def test_groff_renders_without_warnings(page):
    r = run(["groff", "-man", "-Tutf8", "-ww", "-z", MAN / page])
    assert r.returncode == 0 and r.stderr == "", r.stderr


@pytest.mark.parametrize("width", ["80", "120"])
@pytest.mark.parametrize("page", sorted(PAGES))
def test_man_renders_without_warnings_as_lintian_runs_it(page, width):
    if not shutil.which("man"):
        pytest.skip("man not installed")
    env = {"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8", "MANROFFSEQ": "", "MANWIDTH": width}
    r = run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", MAN / page], env=env)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == "", r.stderr


@pytest.mark.parametrize("page", sorted(PAGES))
def test_whatis_entry(page):
    if not shutil.which("lexgrog"):
        pytest.skip("lexgrog not installed")
    r = run(["lexgrog", MAN / page], env={"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8"})
    assert r.returncode == 0, r.stdout + r.stderr
    name = page.rsplit(".", 1)[0]
    m = re.fullmatch(r'[^:]+: "(\S+) - (.+)"\n', r.stdout)
    assert m and m.group(1) == name, r.stdout
    assert not re.search(r"manual page for", m.group(2), re.I)


@pytest.mark.parametrize("page", sorted(PAGES))
def test_title_and_sections(page):
    source = (MAN / page).read_text()
    name, section = page.rsplit(".", 1)
    th = re.search(r"^\.TH\s+(\S+)\s+(\S+)", source, re.M)
    assert th and th.group(1) == name.upper() and th.group(2) == section
    headings = [h.strip('"') for h in re.findall(r"^\.SH\s+(.+)$", source, re.M)]
    headings = [h.replace("\\-", "-") for h in headings]
    for wanted in PAGES[page]:
        assert wanted in headings, f"{page}: no .SH {wanted}"
    assert headings[0] == "NAME" and headings[-1] == "SEE ALSO"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_options_and_values_use_real_minus_signs(page):
    """An unescaped "-" renders as a hyphen (U+2010) that shells do not accept."""
    bad = []
    for n, line in enumerate((MAN / page).read_text().splitlines(), 1):
        if line.startswith('.\\"'):
            continue
        plain = re.sub(r"\\(?:-|\(..|\[[^]]*\]|f.|&|e|.)", "_", line)
        if re.search(r"(?:^|[\s\[(|\"{,=])-{1,2}[A-Za-z0-9]", plain):
            bad.append(f"{page}:{n}: {line}")
    assert not bad, "use \\- for options and values:\n" + "\n".join(bad)


# ---------------------------------------------------------------------------------------
# Options

def options_in_help(binary):
    r = run([binary, "--help"])
    assert r.returncode == 0, r.stderr
    return set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", r.stdout))


def option_groups(source):
    """[["-c", "--config"], ["--profile-dir"], ...] from CLI11's add_option/add_flag."""
    return [[n.strip() for n in names.split(",")]
            for names in re.findall(r'add_(?:option|flag)\(\s*"([^"]+)"', source.read_text())]


def options_in_source(source):
    return {name for group in option_groups(source) for name in group}


@pytest.mark.parametrize("program", ["outpostd", "outpostctl"])
def test_every_option_is_documented(program):
    binary = need_binary(BUILD / "daemon" / program)
    text = render(f"{program}.8")
    options_text = section_of(text, "OPTIONS")
    from_help = options_in_help(binary)
    from_source = options_in_source(REPO / "daemon" / f"{program}.cc")
    assert from_help and from_source
    missing = sorted(o for o in from_help | from_source if not mentions(options_text, o))
    assert not missing, f"{program}.8 OPTIONS lacks {missing}"
    synopsis = section_of(text, "SYNOPSIS")
    for group in option_groups(REPO / "daemon" / f"{program}.cc"):
        if "--help" not in group and "--version" not in group:
            assert any(mentions(synopsis, o) for o in group), f"{program}.8 SYNOPSIS lacks {group}"


def test_outpostctl_exit_codes_match_the_page():
    source = (REPO / "daemon" / "outpostctl.cc").read_text()
    codes = dict((name, int(v)) for name, v in re.findall(r"(k\w+) = (\d)", source))
    assert codes == {"kOk": 0, "kFailed": 1, "kUsage": 2, "kUnreachable": 3}
    exit_status = section_of(render("outpostctl.8"), "EXIT STATUS")
    for code in range(4):
        assert re.search(rf"^\s+{code}\s", exit_status, re.M), code
    assert "OUTPOST_CONTROL_SOCKET" in source
    assert mentions(section_of(render("outpostctl.8"), "ENVIRONMENT"), "OUTPOST_CONTROL_SOCKET")


# ---------------------------------------------------------------------------------------
# Configuration keys

GETTERS = r"(?:get|get_port|get_list|get_one_of|get_existing_file|get_dns_name|get_dns_names|require|node|has|origin)"


def loader_keys():
    source = LOADER.read_text()
    keys = set(re.findall(r"\b\w+\." + GETTERS + r'\(\s*"(\w+)"', source))
    keys |= set(re.findall(r'read_rate_limit\(\s*\w+,\s*"(\w+)"', source))
    keys |= set(re.findall(r'\["(\w+)"\]\.Mark', source))
    top = set(re.findall(r"\broot\." + GETTERS + r'\(\s*"(\w+)"', source))
    return keys, top


def test_loader_key_extraction_is_sane():
    keys, top = loader_keys()
    assert {"lan", "vendor", "uplinks", "dns", "sip", "media", "tls", "dataplane", "management"} <= top
    assert {"client_subnets", "private_key_file", "per_second", "sip_extra_ports", "description"} <= keys
    assert len(keys) > 80


def test_every_top_level_key_has_a_section():
    _, top = loader_keys()
    source = (MAN / "outpost.yaml.5").read_text()
    sections = set(re.findall(r"^\.SS\s+\"?(\w+)", source, re.M))
    missing = sorted(top - sections)
    assert not missing, f"outpost.yaml.5 has no .SS for top-level keys {missing}"
    extra = sorted(s for s in sections if s.islower() and s not in top)
    assert not extra, f"outpost.yaml.5 documents top-level keys the loader does not read: {extra}"


def documented_keys(source):
    """Keys written as a tagged paragraph: \\fBkey\\fR (type...) or \\fBa\\fR, \\fBb\\fR (...)."""
    keys = set()
    for tag in re.findall(r"^\.TP\n(\\fB\w+\\fR(?:, \\fB\w+\\fR)*) \(", source, re.M):
        keys.update(re.findall(r"\\fB(\w+)\\fR", tag))
    return keys


def test_every_key_the_loader_reads_is_documented():
    keys, _ = loader_keys()
    source = (MAN / "outpost.yaml.5").read_text()
    documented = documented_keys(source) | set(re.findall(r"^\.SS\s+\"?(\w+)", source, re.M))
    # description exists only in profile files, described in VENDOR PROFILES.
    documented |= {"description"} if mentions(section_of(render("outpost.yaml.5"), "VENDOR PROFILES"),
                                              "description") else set()
    missing = sorted(keys - documented)
    assert not missing, f"outpost.yaml.5 does not describe keys {missing}"


def test_every_documented_key_exists():
    keys, _ = loader_keys()
    stale = sorted(documented_keys((MAN / "outpost.yaml.5").read_text()) - keys)
    assert not stale, f"outpost.yaml.5 describes keys the loader does not read: {stale}"


def test_defaults_and_ranges_match_the_loader():
    """Ranges written in the loader as get(key, out, MIN, MAX) appear with the key."""
    source = (MAN / "outpost.yaml.5").read_text().replace("\\-", "-")
    loader = LOADER.read_text().replace("'", "")
    for key, lo, hi in re.findall(r'\.get\("(\w+)",\s*[\w.]+,\s*(\w+),\s*([\w<> ]+?)\)', loader):
        def number(s):
            s = s.strip().rstrip("uU")
            if "<<" in s:
                a, b = s.split("<<")
                return int(a) << int(b)
            return int(s, 16) if s.lower().startswith("0x") else int(s)
        lo_n, hi_n = number(lo), number(hi)
        tags = re.findall(r"^\\fB" + key + r"\\fR \(([^)\n]*)\)", source, re.M)
        assert tags, f"no tag for {key}"
        assert any(f"{lo_n}-{hi_n}" in t for t in tags), f"{key}: range {lo_n}-{hi_n} not in {tags}"


def test_shipped_profiles_are_listed():
    text = section_of(render("outpost.yaml.5"), "VENDOR PROFILES")
    shipped = sorted(p.stem for p in PROFILES.glob("*.yaml"))
    assert shipped
    for name in shipped:
        assert re.search(rf"^\s+{re.escape(name)}\b", text, re.M), f"profile {name} not listed"


def example_blocks(page):
    source = (MAN / page).read_text()
    examples = source.split('.SH EXAMPLES', 1)[1].split(".SH ", 1)[0]
    blocks = re.findall(r"^\.EX\n(.*?)^\.EE$", examples, re.M | re.S)
    unescape = [("\\-", "-"), ("\\(aq", "'"), ("\\(dq", '"'), ("\\&", ""), ("\\e", "\\")]
    out = []
    for b in blocks:
        for a, c in unescape:
            b = b.replace(a, c)
        out.append(b)
    return out


def with_local_files(text, tmp):
    """Points /etc/outpost/<file> at empty files of that name under tmp."""
    def local(m):
        p = tmp / "etc" / m.group(1)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()
        return str(p)
    return re.sub(r"/etc/outpost/([\w.-]+\.(?:key|pem|crt))", local, text)


def config_check(config_text, tmp, profile_dir=PROFILES, name="outpost.yaml"):
    path = tmp / name
    path.write_text(with_local_files(config_text, tmp))
    return run([need_binary(OUTPOSTCTL), "config", "check", path, "--profile-dir", profile_dir])


def test_configuration_examples_are_valid(tmp_path):
    blocks = example_blocks("outpost.yaml.5")
    configs = [b for b in blocks if re.search(r"^lan:", b, re.M)]
    profiles = [b for b in blocks if re.search(r"^name:", b, re.M)]
    assert len(configs) >= 3 and len(profiles) == 1
    for i, text in enumerate(configs):
        r = config_check(text, tmp_path, name=f"example{i}.yaml")
        assert r.returncode == 0, f"example {i}:\n{text}\n{r.stdout}{r.stderr}"
    # The site profile example, used by name from a directory of its own.
    pdir = tmp_path / "profiles"
    pdir.mkdir()
    (pdir / "acme.yaml").write_text(profiles[0])
    r = config_check("lan: {interface: eth0, address: 10.20.0.1/24}\nvendor: {profile: acme}\n",
                     tmp_path, profile_dir=pdir, name="acme-site.yaml")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("example", sorted(p.name for p in (REPO / "daemon" / "examples").glob("*.yaml")))
def test_shipped_examples_are_valid(example, tmp_path):
    text = (REPO / "daemon" / "examples" / example).read_text()
    r = config_check(text, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


def test_shell_examples_use_real_options():
    """Options in the EXAMPLES of the section 8 pages are ones the programs accept."""
    for program in ("outpostd", "outpostctl"):
        accepted = options_in_source(REPO / "daemon" / f"{program}.cc") | {"--profile-dir"}
        for block in example_blocks(f"{program}.8"):
            for line in block.splitlines():
                if not line.startswith(program):
                    continue
                for opt in re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", line.split("|")[0].split("&&")[0]):
                    assert opt in accepted, f"{program}.8 example uses {opt}: {line}"


# ---------------------------------------------------------------------------------------
# Bash completion

def complete(*words, env=None, cwd=REPO):
    """COMPREPLY for the command line `words` (the last one being completed)."""
    script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); '
              '_outpostctl; printf "%s\\n" "${COMPREPLY[@]}"')
    r = run(["bash", "--norc", "--noprofile", "-c", script, "_", COMPLETION, *words], env=env, cwd=cwd,
            timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    return [w for w in r.stdout.split("\n") if w]


@pytest.fixture
def no_daemon_env(tmp_path):
    path = f"{BUILD / 'daemon'}:{os.environ['PATH']}"
    return dict(os.environ, PATH=path, OUTPOST_CONTROL_SOCKET=str(tmp_path / "nobody.sock"))


def test_completion_script_is_clean_bash():
    r = run(["bash", "-n", COMPLETION])
    assert r.returncode == 0, r.stderr
    r = run(["bash", "--norc", "-c", 'source "$1"; complete -p outpostctl', "_", COMPLETION])
    assert r.stdout.strip() == "complete -F _outpostctl outpostctl", r.stdout + r.stderr
    if shutil.which("shellcheck"):
        r = run(["shellcheck", "-s", "bash", COMPLETION])
        assert r.returncode == 0, r.stdout


def test_completes_commands_without_a_daemon(no_daemon_env):
    need_binary(OUTPOSTCTL)
    env = no_daemon_env
    assert complete("outpostctl", "sh", env=env) == ["show"]
    assert complete("outpostctl", "config", "ch", env=env) == ["check"]
    assert sorted(complete("outpostctl", "", env=env)) == ["config", "help", "show", "status"]
    assert sorted(complete("outpostctl", "show", "", env=env)) == ["config", "version"]
    assert sorted(complete("outpostctl", "config", "", env=env)) == ["check", "reload"]
    assert complete("outpostctl", "config", "reload", "", env=env) == []
    assert complete("outpostctl", "status", "", env=env) == []
    # Global options, wherever they are on the line.
    assert set(complete("outpostctl", "-", env=env)) == {
        "-s", "--socket", "-j", "--json", "--timeout", "-h", "--help", "-V", "--version"}
    assert complete("outpostctl", "--js", env=env) == ["--json"]
    assert complete("outpostctl", "--json", "--timeout", "3", "st", env=env) == ["status"]
    assert complete("outpostctl", "--timeout", "", env=env) == []


def test_completes_config_check_files(no_daemon_env, tmp_path):
    env = no_daemon_env
    d = tmp_path / "etc"
    d.mkdir()
    (d / "site.yaml").write_text("")
    (d / "notes.txt").write_text("")
    (d / "sub").mkdir()
    got = complete("outpostctl", "config", "check", f"{d}/", env=env)
    assert sorted(got) == [f"{d}/site.yaml", f"{d}/sub"]
    got = complete("outpostctl", "config", "check", f"{d}/n", env=env)
    assert got == [f"{d}/notes.txt"]
    assert complete("outpostctl", "config", "check", f"{d}/site.yaml", "--pro", env=env) == ["--profile-dir"]
    got = complete("outpostctl", "config", "check", "x.yaml", "--profile-dir", "daemon/pro", env=env)
    assert got == ["daemon/profiles"]
    assert complete("outpostctl", "config", "check", "x.yaml", "", env=env) == []
    got = complete("outpostctl", "-s", f"{d}/si", env=env)
    assert got == [f"{d}/site.yaml"]


def test_completes_component_words_from_the_daemon(tmp_path):
    """Words come from `outpostctl --json help`, through the socket given with -s."""
    fake = tmp_path / "bin" / "outpostctl"
    fake.parent.mkdir()
    log = tmp_path / "argv"
    reply = {"commands": [{"command": c, "help": "x"} for c in
                          ["config reload", "dns lookup", "help", "show config", "show dns",
                           "show version", "status", "uplink prefer"]]}
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\ncat <<'EOF'\n{json.dumps(reply, indent=2)}\nEOF\n")
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{fake.parent}:{os.environ['PATH']}")
    assert sorted(complete("outpostctl", "", env=env)) == ["config", "dns", "help", "show", "status", "uplink"]
    assert sorted(complete("outpostctl", "show", "", env=env)) == ["config", "dns", "version"]
    assert complete("outpostctl", "dns", "", env=env) == ["lookup"]
    assert complete("outpostctl", "-j", "upl", env=env) == ["uplink"]
    # config check is outpostctl's own, whatever the daemon lists.
    assert sorted(complete("outpostctl", "config", "", env=env)) == ["check", "reload"]
    # The socket on the line is the one asked, in each spelling.
    log.write_text("")
    complete("outpostctl", "-s", "/x/a.sock", "show", "", env=env)
    complete("outpostctl", "--socket", "=", "/x/b.sock", "show", "", env=env)
    complete("outpostctl", "--socket=/x/c.sock", "show", "", env=env)
    complete("outpostctl", "show", "", env=env)
    calls = log.read_text().splitlines()
    assert calls[0].startswith("-s /x/a.sock ") and calls[1].startswith("-s /x/b.sock ")
    assert calls[2].startswith("-s /x/c.sock ") and not calls[3].startswith("-s")
    assert all(c.endswith("--json help") for c in calls)
    # The binary typed on the line is the one asked.
    compact = tmp_path / "compact" / "outpostctl"
    compact.parent.mkdir()
    compact.write_text("#!/bin/sh\necho '" + json.dumps(
        {"commands": [{"command": "show tls", "help": "y"}]}) + "'\n")
    compact.chmod(0o755)
    assert complete(str(compact), "show", "", env=env) == ["tls"]


@pytest.fixture
def daemon(tmp_path):
    """A real outpostd with its components off, on a socket of its own."""
    need_binary(OUTPOSTD)
    sock = tmp_path / "control.sock"
    config = tmp_path / "outpost.yaml"
    config.write_text(f"""\
lan:
  interface: lo
  address: 127.0.0.1/8
vendor:
  profile: lab
dns: {{enabled: false, port: 25053}}
sip: {{enabled: false, udp_port: 25060, tcp_port: 25060, tls_port: 0}}
tls: {{enabled: false, https_port: 25443, http_port: 0}}
media: {{lan_ports: 26000-26999, uplink_ports: 27000-27999}}
management:
  control_socket: {sock}
  metrics_enabled: false
""")
    log = open(tmp_path / "outpostd.log", "w")
    proc = subprocess.Popen([str(OUTPOSTD), "-f", "-c", str(config), "--profile-dir", str(PROFILES)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(str(sock))
                break
            except OSError:
                time.sleep(0.05)
        if proc.poll() is not None or not sock.exists():
            pytest.skip("outpostd did not start here: " + (tmp_path / "outpostd.log").read_text())
        yield sock
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_completes_show_targets_from_a_running_daemon(daemon, no_daemon_env):
    env = no_daemon_env  # OUTPOST_CONTROL_SOCKET points nowhere: only -s can find it
    got = complete("outpostctl", "-s", str(daemon), "show", "", env=env)
    assert {"version", "config"} <= set(got)
    got = complete("outpostctl", "-s", str(daemon), "", env=env)
    assert {"status", "show", "config", "help"} <= set(got)
    env = dict(env, OUTPOST_CONTROL_SOCKET=str(daemon))
    assert {"version", "config"} <= set(complete("outpostctl", "show", "", env=env))


def test_every_daemon_command_is_in_outpostctl_page(daemon):
    r = run([need_binary(OUTPOSTCTL), "-s", daemon, "--json", "help"])
    assert r.returncode == 0, r.stderr
    commands = [c["command"] for c in json.loads(r.stdout)["commands"]]
    assert {"status", "show version", "show config", "config reload", "help"} <= set(commands)
    text = section_of(render("outpostctl.8"), "COMMANDS")
    for c in commands:
        assert mentions(text, c), f"outpostctl.8 COMMANDS does not mention '{c}'"
    # The plain `help` lists them after the line the completion docs describe.
    r = run([OUTPOSTCTL, "-s", daemon, "help"])
    listed = r.stdout.split("commands of the running daemon:\n", 1)[1]
    assert [line.split()[0] for line in listed.splitlines()] == [c.split()[0] for c in commands]
