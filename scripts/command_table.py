#!/usr/bin/env python3
"""Generate src/command/table.rs from the servers' own COMMAND INFO and
COMMAND DOCS (see scripts/command-table.sh, which starts the servers).

    python3 scripts/command_table.py OUT.rs NAME=DUMP.json [NAME=DUMP.json ...]

Each DUMP.json is {"info": COMMAND INFO, "docs": COMMAND DOCS} read over
RESP3 (`--dump PORT DUMP.json` writes one from a running server). The
servers are given newest first: a command's flags, key specs, tips and
arguments come from the first server that knows it; the `servers` mask says
which of them know it (so a command a newer server removed is kept, marked).

What is derived from Redis's data, and how:
- flags, key specs and tips: copied from COMMAND INFO.
- time arguments: every argument whose type is `unix-time`, in any server,
  located in a request by where the grammar puts it (a fixed index, a
  place counted from the end, or the value after a token); the unit is
  milliseconds when the argument's name says so, else seconds.
- secret arguments: every argument named `password` (AUTH, HELLO's AUTH
  block, MIGRATE's AUTH/AUTH2), located the same way.
- conditional blocking: a `blocking` command with an optional `BLOCK`
  token (XREAD, XREADGROUP) blocks only when the token is given.

What Redis's data does not say lives in OVERLAY below, one entry per fact,
each with its reason; the Rust code asks the table for these too.
"""

import json
import socket
import sys

# Facts about commands that COMMAND INFO/DOCS do not carry. Keys are command
# names (lowercase; "parent|sub" for subcommands).
OVERLAY = {
    # Replies that hold absolute Unix times (Redis types arguments, not
    # replies): replay shifts them by the replay's clock offset.
    "expiretime": {"reply_time": "Seconds"},
    "pexpiretime": {"reply_time": "Millis"},
    "hexpiretime": {"reply_time": "Seconds"},
    "hpexpiretime": {"reply_time": "Millis"},
    "time": {"reply_time": "Clock"},
    # RESTORE's ttl is typed `integer`, but with ABSTTL it is an absolute
    # Unix time in milliseconds (0 still means no expiry).
    "restore": {"extra_time": [{"index": 2, "unit": "Millis", "requires": "ABSTTL"}]},
    "restore-asking": {"extra_time": [{"index": 2, "unit": "Millis", "requires": "ABSTTL"}]},
    # Handshake calls replay answers by itself when unrecorded, the way
    # Redis would in the connection's state (DESIGN.md, matching rule 4).
    "hello": {"handshake": True, "trivial": True},
    "ping": {"handshake": True, "trivial": True},
    "echo": {"handshake": True, "trivial": True},
    "select": {"handshake": True, "trivial": True},
    "auth": {"handshake": True, "trivial": True},
    "quit": {"handshake": True},
    "reset": {"handshake": True},
    "readonly": {"handshake": True},
    "readwrite": {"handshake": True},
    "client|setname": {"handshake": True, "trivial": True},
    "client|setinfo": {"handshake": True, "trivial": True},
    "client|getname": {"handshake": True},
    "client|id": {"handshake": True},
    # The subscribe family: which namespace each command subscribes in or
    # leaves (the `pubsub` flag also covers PUBLISH and PUBSUB).
    "subscribe": {"subscribe": "ChannelOn"},
    "unsubscribe": {"subscribe": "ChannelOff"},
    "psubscribe": {"subscribe": "PatternOn"},
    "punsubscribe": {"subscribe": "PatternOff"},
    "ssubscribe": {"subscribe": "ShardOn"},
    "sunsubscribe": {"subscribe": "ShardOff"},
    # Commands whose reply is an array, so that their RESP3 null (`_`)
    # reads as the null array (`*-1`) in RESP2 (reply schemas are not served
    # by COMMAND DOCS).
    **{n: {"null_array": True} for n in [
        "blpop", "brpop", "blmpop", "lmpop", "bzpopmin", "bzpopmax", "bzmpop",
        "zmpop", "exec", "xread", "xreadgroup", "sort", "sort_ro"]},
    # Once accepted, the connection carries the replication stream.
    "sync": {"replication": True},
    "psync": {"replication": True},
}

SERVER_BITS = {}  # name -> bit, in the order given


# --- a minimal RESP3 client, for --dump --------------------------------------

def _send(f, *args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    f.write(out)
    f.flush()
    return _read(f)


def _read(f):
    line = f.readline()[:-2]
    kind, rest = chr(line[0]), line[1:]
    if kind == "+":
        return rest.decode()
    if kind in "-!":
        raise RuntimeError(rest.decode())
    if kind == ":":
        return int(rest)
    if kind in "$=":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2].decode()
    if kind in "*~>":
        n = int(rest)
        return None if n < 0 else [_read(f) for _ in range(n)]
    if kind == "%":
        return {str(_read(f)): _read(f) for _ in range(int(rest))}
    if kind == "_":
        return None
    if kind == "#":
        return rest == b"t"
    raise RuntimeError("unexpected RESP type " + kind)


def dump(port, path):
    f = socket.create_connection(("127.0.0.1", int(port))).makefile("rwb")
    _send(f, "HELLO", "3")
    data = {"info": _send(f, "COMMAND", "INFO"), "docs": _send(f, "COMMAND", "DOCS")}
    with open(path, "w") as out:
        json.dump(data, out, sort_keys=True)


# --- locating arguments in a request ------------------------------------------

def fixed(arg):
    """An argument that always takes exactly one place."""
    flags = arg.get("flags", [])
    return (
        "optional" not in flags
        and "multiple" not in flags
        and not arg.get("token")
        and arg["type"] not in ("block", "oneof", "pure-token")
    )


def leaf_count(arg):
    """Places a token's value takes; None for the rest of the request."""
    flags = arg.get("flags", [])
    if "multiple" in flags:
        return None
    if arg["type"] == "pure-token":
        return 0
    if arg["type"] == "block":
        total = 0
        for a in arg["arguments"]:
            n = leaf_count_inner(a)
            if n is None:
                return None
            total += n
        return total
    if arg["type"] == "oneof":
        return 1
    return 1


def leaf_count_inner(arg):
    n = leaf_count(arg)
    if n is None:
        return None
    return n + (1 if arg.get("token") else 0)


def tokens_of(args, out):
    for a in args or []:
        if a.get("token"):
            n = leaf_count(a)
            out[a["token"].upper()] = 255 if n is None else n
        tokens_of(a.get("arguments"), out)


def locate(top, want):
    """Where the arguments `want(arg)` selects sit in a request: a list of
    (locator, arg) with locator ("Index", i) (0 is the name),
    ("FromEnd", k) or ("AfterToken", token, offset)."""
    found = []

    def walk(args, token, offset_base):
        # Inside a token's block: positions relative to the token.
        pos = offset_base
        for a in args or []:
            if a.get("token"):
                if want(a):
                    found.append((("AfterToken", a["token"].upper(), 1), a))
                walk(a.get("arguments"), a["token"].upper(), 1)
                if a["type"] == "block":
                    pass
                continue
            if want(a) and token is not None:
                found.append((("AfterToken", token, pos), a))
            elif a.get("arguments"):
                walk(a["arguments"], token, pos)
            pos += 1

    for i, a in enumerate(top):
        if a.get("token"):
            if want(a):
                found.append((("AfterToken", a["token"].upper(), 1), a))
            walk(a.get("arguments"), a["token"].upper(), 1)
            continue
        if want(a):
            if all(fixed(b) for b in top[: i + 1]):
                found.append((("Index", i + 1), a))
            elif all(fixed(b) for b in top[i + 1:]) and "multiple" not in a.get("flags", []):
                found.append((("FromEnd", len(top) - i), a))
            else:
                raise SystemExit("cannot locate argument %r" % a["name"])
        if a.get("arguments"):
            walk(a["arguments"], None, 0)
    return found


def fixed_prefix(top):
    n = 1
    for a in top:
        if not fixed(a):
            break
        n += 1
    return n


# --- merging ------------------------------------------------------------------

def info_map(info):
    out = {}
    for entry in info:
        if entry is None:
            continue
        out[entry[0].lower()] = entry
        for sub in entry[9] or []:
            out[sub[0].lower()] = sub
    return out


def docs_map(docs):
    out = {}
    for name, doc in docs.items():
        out[name.lower()] = doc
        for sub, sdoc in (doc.get("subcommands") or {}).items():
            out[sub.lower()] = sdoc
    return out


def rust_str(s):
    return json.dumps(s)


def unit_of(arg):
    return "Millis" if "milli" in arg["name"] else "Seconds"


def locator_rs(loc):
    if loc[0] == "Index":
        return "Locator::Index(%d)" % loc[1]
    if loc[0] == "FromEnd":
        return "Locator::FromEnd(%d)" % loc[1]
    return "Locator::AfterToken(%s, %d)" % (rust_str(loc[1]), loc[2])


# Field values equal to Spec::DEFAULT's, left out of the generated literals.
DEFAULTS = (
    "tips: Tips(0),", 'request_policy: "",', 'response_policy: "",', "key_specs: &[],",
    "time_args: &[],", "secret_args: &[],", "block_token: None,", "tokens: &[],",
    "resplay: Resplay(0),", "subscribe: None,", "reply_time: None,", "subcommands: &[],",
)

FLAG_NAMES = [
    "write", "readonly", "denyoom", "module", "admin", "pubsub", "noscript",
    "blocking", "loading", "stale", "skip_monitor", "skip_slowlog", "asking",
    "fast", "no_auth", "may_replicate", "no_mandatory_keys", "no_async_loading",
    "no_multi", "movablekeys", "allow_busy", "skip_commandlog",
]


def spec_rs(name, servers, indent):
    """One Spec literal, merged over the servers that know `name`."""
    known = [s for s in servers if name in s["info"]]
    first = known[0]
    info, doc = first["info"][name], first["docs"].get(name, {})
    mask = sum(SERVER_BITS[s["name"]] for s in known)
    top = doc.get("arguments") or []
    overlay = OVERLAY.get(name, {})

    flags = []
    for f in info[2]:
        if f not in FLAG_NAMES:
            raise SystemExit("unknown flag %s on %s: add it to FLAG_NAMES and Flags" % (f, name))
        flags.append("Flags::" + f.upper())
    tips = []
    for t in info[7]:
        key, _, value = t.partition(":")
        tips.append((key, value))

    # Time and secret arguments, from every server that knows the command.
    times, secrets, tokens = [], [], {}
    for s in known:
        sargs = s["docs"].get(name, {}).get("arguments") or []
        for loc, arg in locate(sargs, lambda a: a["type"] == "unix-time"):
            t = (locator_rs(loc), unit_of(arg), "None")
            if t not in times:
                times.append(t)
        for loc, arg in locate(sargs, lambda a: a["name"] == "password"
                               or a.get("display_text") == "password"):
            if locator_rs(loc) not in secrets:
                secrets.append(locator_rs(loc))
        tokens_of(sargs, tokens)
    for extra in overlay.get("extra_time", []):
        times.append(("Locator::Index(%d)" % extra["index"], extra["unit"],
                      "Some(%s)" % rust_str(extra["requires"])))
    block_token = None
    if "blocking" in info[2]:
        for a in top:
            if a.get("token", "").upper() == "BLOCK" and "optional" in a.get("flags", []):
                block_token = "BLOCK"
    needs_tokens = bool(times or secrets)

    key_specs = []
    for ks in info[8]:
        b, fk = ks["begin_search"], ks["find_keys"]
        if b["type"] == "index":
            begin = "Begin::Index(%d)" % b["spec"]["index"]
        elif b["type"] == "keyword":
            begin = "Begin::Keyword(%s, %d)" % (rust_str(b["spec"]["keyword"].upper()), b["spec"]["startfrom"])
        else:
            begin = "Begin::Unknown"
        if fk["type"] == "range":
            sp = fk["spec"]
            find = "Find::Range { last: %d, step: %d, limit: %d }" % (sp["lastkey"], sp["keystep"], sp["limit"])
        elif fk["type"] == "keynum":
            sp = fk["spec"]
            find = "Find::Keynum { index: %d, first: %d, step: %d }" % (sp["keynumidx"], sp["firstkey"], sp["keystep"])
        else:
            find = "Find::Unknown"
        ks_flags = [f for f in ks["flags"] if f in ("RO", "RW", "OW", "RM", "not_key", "incomplete")]
        ks_flags_rs = "KeyFlags(%s)" % (" | ".join("KeyFlags::%s.0" % f.upper() for f in ks_flags) or "0")
        key_specs.append("KeySpec { begin: %s, find: %s, flags: %s }" % (begin, find, ks_flags_rs))

    subs = sorted(n for s in known for n in s["info"] if n.startswith(name + "|"))
    subs = sorted(set(subs))
    pad = " " * indent
    lines = [pad + "Spec {"]
    p2 = pad + "    "
    display = name.split("|")[-1].upper()
    lines.append(p2 + "name: %s," % rust_str(display))
    lines.append(p2 + "arity: %d," % info[1])
    lines.append(p2 + "flags: Flags(%s)," % (" | ".join("Flags::%s.0" % f.split("::")[1] for f in flags) or "0"))
    request = [v for k, v in tips if k == "request_policy"]
    response = [v for k, v in tips if k == "response_policy"]
    tip_bits = []
    if ("nondeterministic_output", "") in tips:
        tip_bits.append("Tips::NONDETERMINISTIC_OUTPUT.0")
    if ("nondeterministic_output_order", "") in tips:
        tip_bits.append("Tips::NONDETERMINISTIC_OUTPUT_ORDER.0")
    lines.append(p2 + "tips: Tips(%s)," % (" | ".join(tip_bits) or "0"))
    lines.append(p2 + "request_policy: %s," % (rust_str(request[0]) if request else '""'))
    lines.append(p2 + "response_policy: %s," % (rust_str(response[0]) if response else '""'))
    lines.append(p2 + "key_specs: &[%s]," % ", ".join(key_specs))
    lines.append(p2 + "time_args: &[%s]," % ", ".join(
        "TimeArg { at: %s, unit: Unit::%s, requires: %s }" % t for t in times))
    lines.append(p2 + "secret_args: &[%s]," % ", ".join(secrets))
    lines.append(p2 + "block_token: %s," % ("Some(\"BLOCK\")" if block_token else "None"))
    lines.append(p2 + "tokens: &[%s]," % (", ".join(
        "(%s, %d)" % (rust_str(t), n) for t, n in sorted(tokens.items())) if needs_tokens else ""))
    lines.append(p2 + "fixed_prefix: %d," % fixed_prefix(top))
    resplay = []
    for key, bit in (("handshake", "HANDSHAKE"), ("trivial", "TRIVIAL"),
                     ("null_array", "NULL_ARRAY"), ("replication", "REPLICATION")):
        if overlay.get(key):
            resplay.append("Resplay::%s.0" % bit)
    lines.append(p2 + "resplay: Resplay(%s)," % (" | ".join(resplay) or "0"))
    lines.append(p2 + "subscribe: %s," % (
        "Some(Subscribe::%s)" % overlay["subscribe"] if "subscribe" in overlay else "None"))
    lines.append(p2 + "reply_time: %s," % (
        "Some(ReplyTime::%s)" % overlay["reply_time"] if "reply_time" in overlay else "None"))
    lines.append(p2 + "group: %s," % rust_str(doc.get("group", "")))
    lines.append(p2 + "since: %s," % rust_str(doc.get("since", "")))
    lines.append(p2 + "servers: Servers(%d)," % mask)
    if subs:
        lines.append(p2 + "subcommands: &[")
        for sub in subs:
            lines.extend(spec_rs(sub, servers, indent + 8))
        lines.append(p2 + "],")
    else:
        lines.append(p2 + "subcommands: &[],")
    lines.append(p2 + "..Spec::DEFAULT")
    lines.append(pad + "},")
    return [l for l in lines if not any(l.endswith(d) for d in DEFAULTS)]


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--dump":
        dump(sys.argv[2], sys.argv[3])
        return
    out_path = sys.argv[1]
    servers = []
    for i, spec in enumerate(sys.argv[2:]):
        label, _, path = spec.partition("=")
        with open(path) as f:
            data = json.load(f)
        SERVER_BITS[label] = 1 << i
        servers.append({"name": label, "info": info_map(data["info"]), "docs": docs_map(data["docs"])})
    for name in OVERLAY:
        if not any(name in s["info"] for s in servers):
            raise SystemExit("OVERLAY names %s, which no server knows" % name)
    names = sorted({n for s in servers for n in s["info"] if "|" not in n})
    body = []
    for name in names:
        body.extend(spec_rs(name, servers, 4))
    upper = [n.upper() for n in names]
    with open(out_path, "w") as out:
        out.write("// @generated by scripts/command-table.sh from COMMAND INFO and COMMAND DOCS of\n")
        out.write("// %s. Do not edit: change scripts/command_table.py and run it again.\n"
                  % ", ".join(s["name"] for s in servers))
        out.write("#![allow(clippy::all)]\n\n")
        out.write("use super::spec::*;\n\n")
        out.write("/// Which servers the bits of [`Servers`] stand for, lowest bit first.\n")
        out.write("pub const SERVER_NAMES: &[&str] = &[%s];\n\n"
                  % ", ".join(rust_str(s["name"]) for s in servers))
        out.write("/// Every command any of those servers knows, sorted by name.\n")
        out.write("pub static COMMANDS: &[Spec] = &[\n")
        out.write("\n".join(body))
        out.write("\n];\n\n")
        # Names grouped by first letter and length: a request's name finds
        # its few candidates with two array reads, then compares them
        # ignoring case, with no copy (every request asks).
        longest = max(len(n) for n in upper)
        order = sorted(range(len(upper)), key=lambda i: (upper[i][0], len(upper[i]), upper[i]))
        groups = {}
        for pos, i in enumerate(order):
            key = (ord(upper[i][0]) - ord("A"), len(upper[i]))
            start, count = groups.get(key, (pos, 0))
            groups[key] = (start, count + 1)
        out.write("/// The longest command name.\n")
        out.write("const LONGEST: usize = %d;\n\n" % longest)
        out.write("/// Command names ordered by first letter, then length.\n")
        out.write("static NAMES: [(&[u8], u16); %d] = [\n" % len(order))
        for i in order:
            out.write("    (b%s, %d),\n" % (rust_str(upper[i]), i))
        out.write("];\n\n")
        out.write("/// For each first letter (A to Z) and length, where its names start in\n")
        out.write("/// [`NAMES`] and how many there are.\n")
        out.write("static GROUPS: [[(u16, u8); LONGEST + 1]; 26] = [\n")
        for letter in range(26):
            row = [groups.get((letter, n), (0, 0)) for n in range(longest + 1)]
            out.write("    [%s],\n" % ", ".join("(%d, %d)" % g for g in row))
        out.write("];\n\n")
        out.write("/// The index in [`COMMANDS`] of a command name, in any case.\n")
        out.write("pub fn index(name: &[u8]) -> Option<usize> {\n")
        out.write("    let letter = name.first()?.to_ascii_uppercase().wrapping_sub(b'A');\n")
        out.write("    let &(start, count) = GROUPS.get(usize::from(letter))?.get(name.len())?;\n")
        out.write("    let start = usize::from(start);\n")
        out.write("    NAMES[start..start + usize::from(count)]\n")
        out.write("        .iter()\n")
        out.write("        // The table's names are uppercase: only the request's side folds.\n")
        out.write("        .find(|(n, _)| n.iter().zip(name).all(|(&u, &b)| u == b.to_ascii_uppercase()))\n")
        out.write("        .map(|&(_, i)| usize::from(i))\n}\n")


if __name__ == "__main__":
    main()
