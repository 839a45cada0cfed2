#!/usr/bin/env python3
"""Checks the deployment examples without a cluster, a Mac or a container engine.

    packaging/check_examples.py OAKLEY_BINARY

examples/kubernetes/sidecar.yaml: parses (PyYAML; skipped with a message when missing); has
the ConfigMap, Secret and Pod; every container runs as non-root with a read-only root file
system, no privilege escalation and ALL capabilities dropped; the Secret is mounted 0400;
the oakley container mounts the ConfigMap and runs `up -c` on it; the embedded oakley.toml
passes `oakley check` (its psk_file pointed at a temporary 0600 copy) and is a netstack
configuration on unprivileged ports. Negative controls: the same checks reject a copy with
a capability added, and `oakley check` rejects the embedded config with a group-readable key.
examples/launchd/org.oakley.plist: parses (plistlib) and runs `oakley up -c`.
examples/Dockerfile: the final stage is FROM scratch with a numeric USER and ENTRYPOINT /oakley.
"""
import copy
import os
import plistlib
import re
import subprocess
import sys
import tempfile
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
failures = []


def fail(msg):
    failures.append(msg)
    print("check-examples: FAIL: " + msg)


def ok(msg):
    print("check-examples: ok: " + msg)


def pod_problems(pod):
    """What keeps a pod from being the unprivileged sidecar the example promises."""
    probs = []
    spec = pod["spec"]
    psc = spec.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True:
        probs.append("pod securityContext.runAsNonRoot is not true")
    if not isinstance(psc.get("runAsUser"), int) or psc["runAsUser"] == 0:
        probs.append("pod runAsUser is not a non-zero uid")
    for c in spec.get("initContainers", []) + spec["containers"]:
        sc = c.get("securityContext", {})
        if sc.get("readOnlyRootFilesystem") is not True:
            probs.append(c["name"] + ": root file system not read-only")
        if sc.get("allowPrivilegeEscalation") is not False:
            probs.append(c["name"] + ": privilege escalation allowed")
        caps = sc.get("capabilities", {})
        if caps.get("drop") != ["ALL"] or caps.get("add"):
            probs.append(c["name"] + ": capabilities not exactly drop ALL")
        if sc.get("privileged"):
            probs.append(c["name"] + ": privileged")
    secrets = [v for v in spec["volumes"] if "secret" in v]
    if not secrets or any(v["secret"].get("defaultMode") != 0o400 for v in secrets):
        probs.append("a Secret volume is not mounted with defaultMode 0400")
    return probs


def check_kubernetes(oakley):
    path = os.path.join(ROOT, "examples/kubernetes/sidecar.yaml")
    try:
        import yaml
    except ImportError:
        print("check-examples: SKIP: python3 yaml module missing (Debian: python3-yaml); %s not parsed" % path)
        return
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    kinds = {d["kind"]: d for d in docs}
    if set(kinds) != {"ConfigMap", "Secret", "Pod"}:
        fail("sidecar.yaml kinds %s" % sorted(kinds))
        return
    pod = kinds["Pod"]
    probs = pod_problems(pod)
    for p in probs:
        fail("sidecar.yaml: " + p)
    bad = copy.deepcopy(pod)
    bad["spec"]["containers"][0]["securityContext"] = {"capabilities": {"add": ["NET_ADMIN"]}}
    if not pod_problems(bad):
        fail("negative control: a container with NET_ADMIN passed the pod checks")
    oak = [c for c in pod["spec"]["containers"] if c["name"] == "oakley"]
    if len(oak) != 1 or oak[0].get("args", [])[:2] != ["up", "-c"]:
        fail("sidecar.yaml: no oakley container running `up -c`")
        return
    conf_path = oak[0]["args"][2]
    cm_name = kinds["ConfigMap"]["metadata"]["name"]
    mounted = {m["name"]: m["mountPath"] for m in oak[0]["volumeMounts"]}
    cm_vols = [v["name"] for v in pod["spec"]["volumes"] if v.get("configMap", {}).get("name") == cm_name]
    key = os.path.basename(conf_path)
    if not cm_vols or mounted.get(cm_vols[0]) != os.path.dirname(conf_path) or key not in kinds["ConfigMap"]["data"]:
        fail("sidecar.yaml: %s is not the ConfigMap's %s" % (conf_path, key))
        return
    text = kinds["ConfigMap"]["data"][key]
    conf = tomllib.loads(text)
    if conf["device"]["kind"] != "netstack" or conf["daemon"]["ike_port"] < 1024 or conf["daemon"]["natt_port"] < 1024:
        fail("sidecar.yaml: the config is not netstack on unprivileged ports")
    if probs == [] and not failures:
        ok("sidecar.yaml: ConfigMap, Secret (0400), Pod: non-root, read-only root, no escalation, drop ALL (a NET_ADMIN copy is refused)")
    psk_path = conf["connection"][0]["psk_file"]
    with tempfile.TemporaryDirectory() as tmp:
        psk = os.path.join(tmp, "psk")
        with open(psk, "w") as f:
            f.write("k8s-example-" + os.urandom(16).hex() + "\n")
        os.chmod(psk, 0o600)
        cfg = os.path.join(tmp, "oakley.toml")
        with open(cfg, "w") as f:
            f.write(text.replace('"%s"' % psk_path, '"%s"' % psk))
        r = subprocess.run([oakley, "check", "-c", cfg], capture_output=True, text=True)
        if r.returncode != 0:
            fail("sidecar.yaml: the ConfigMap's oakley.toml fails oakley check: " + r.stdout + r.stderr)
        else:
            ok("sidecar.yaml: the ConfigMap's oakley.toml passes oakley check: " + r.stdout.strip().split(": ", 1)[1])
        os.chmod(psk, 0o440)  # what the Secret volume gives with fsGroup
        r = subprocess.run([oakley, "check", "-c", cfg], capture_output=True, text=True)
        if r.returncode != 1 or "readable by group/other" not in r.stderr:
            fail("negative control: a 0440 psk_file was not refused: %d %s" % (r.returncode, r.stderr))
        else:
            ok("sidecar.yaml: a 0440 psk_file (a Secret volume with fsGroup) is refused, hence the init container's 0600 copy")


def check_launchd():
    path = os.path.join(ROOT, "examples/launchd/org.oakley.plist")
    with open(path, "rb") as f:
        p = plistlib.load(f)
    args = p.get("ProgramArguments", [])
    if p.get("Label") != "org.oakley" or len(args) != 4 or not args[0].endswith("/oakley") or args[1:3] != ["up", "-c"]:
        fail("org.oakley.plist: Label/ProgramArguments %r %r" % (p.get("Label"), args))
    else:
        ok("org.oakley.plist parses: %s" % " ".join(args))


def check_dockerfile():
    path = os.path.join(ROOT, "examples/Dockerfile")
    with open(path) as f:
        lines = [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]
    froms = [i for i, l in enumerate(lines) if l.upper().startswith("FROM ")]
    final = lines[froms[-1]:] if froms else []
    user = [l for l in final if l.upper().startswith("USER ")]
    if not final or final[0].split()[1] != "scratch":
        fail("Dockerfile: the final stage is not FROM scratch")
    elif len(froms) < 2:
        fail("Dockerfile: not multi-stage")
    elif not user or not re.fullmatch(r"USER \d+(:\d+)?", user[-1]) or user[-1].split()[1].split(":")[0] == "0":
        fail("Dockerfile: the final stage has no numeric non-root USER")
    elif 'ENTRYPOINT ["/oakley"]' not in final:
        fail("Dockerfile: ENTRYPOINT is not [\"/oakley\"]")
    else:
        ok("Dockerfile: multi-stage, FROM scratch, %s, ENTRYPOINT [\"/oakley\"]" % user[-1])


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_examples.py OAKLEY_BINARY")
    check_kubernetes(os.path.abspath(sys.argv[1]))
    check_launchd()
    check_dockerfile()
    if failures:
        sys.exit(1)
    print("check-examples: PASS")


main()
