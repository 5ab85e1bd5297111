"""The per-rule-family conda envs (envs/*.yaml) agree with the venv lock and cover their rules.

Checks, without conda (none is needed to run them):
  * every pin in every env file equals requirements.txt (the one lock), `tensorflow[and-cuda]`
    standing for the venv's `tensorflow-cpu` (the same release, CUDA build for GPU nodes);
  * every env is conda-forge + python of the venv's major.minor + pinned pip packages;
  * every rule that runs code has a `conda:` directive naming an existing file under envs/ — the
    workflow is loaded through Snakemake's API, also with the download rules switched on;
  * every third-party module a rule imports — its script, followed through the transientrepro
    modules it imports (transitively, imports inside functions included), or the notebooks its
    papermill command runs — is provided by that rule's env.  So a TF rule cannot import torch and
    a torch rule cannot import TensorFlow: tf.yaml has no torch and torch.yaml no tensorflow.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENVS = ROOT / "envs"
SRC = ROOT / "src"
ENV_NAMES = {"data", "gp", "tf", "torch", "notebook"}

# env-file package name -> requirements.txt name, where they differ (documented in envs/tf.yaml).
ENV_TO_LOCK = {"tensorflow[and-cuda]": "tensorflow-cpu"}

# Module imported in code -> the distributions (any one suffices) that provide it in an env.
MODULE_TO_DISTS = {
    "numpy": {"numpy"},
    "scipy": {"scipy"},
    "pandas": {"pandas"},
    "pyarrow": {"pyarrow"},
    "h5py": {"h5py"},
    "astropy": {"astropy"},
    "sklearn": {"scikit-learn"},
    "tqdm": {"tqdm"},
    "yaml": {"pyyaml"},
    "george": {"george"},
    "optuna": {"optuna"},
    "tensorflow": {"tensorflow[and-cuda]", "tensorflow-cpu", "tensorflow"},
    "keras": {"tensorflow[and-cuda]", "tensorflow-cpu", "tensorflow"},  # Keras 3 comes with TF
    "torch": {"torch"},
    "matplotlib": {"matplotlib"},
    "PIL": {"pillow", "matplotlib"},  # pillow is a dependency of matplotlib
    "papermill": {"papermill"},
    "nbformat": {"nbformat"},
    "IPython": {"ipykernel"},
    "ipykernel": {"ipykernel"},
    "jsonschema": {"jsonschema"},
    "threadpoolctl": {"threadpoolctl", "scikit-learn"},  # a dependency of scikit-learn
}
# Provided to every job by the Snakemake that runs it (the script preamble), not by the env.
RUNNER_MODULES = {"snakemake"}
# Every env carries the data stack: transientrepro.io/paper and most modules need it.
DATA_STACK = {"numpy", "scipy", "pandas", "pyarrow", "astropy", "scikit-learn", "tqdm", "pyyaml"}
# What each family must hold beyond the data stack, whatever its rules import today.
FAMILY_EXTRA = {
    "data": set(),
    "gp": {"george"},
    "tf": {"tensorflow[and-cuda]", "optuna"},
    "torch": {"torch", "optuna"},
    "notebook": {"papermill", "ipykernel", "nbformat", "matplotlib"},
}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"requirements.txt: {line!r} is not pinned with =="
        pins[_norm(name)] = version.strip()
    return pins


@lru_cache(maxsize=None)
def read_env(name: str) -> dict:
    path = ENVS / f"{name}.yaml"
    return yaml.safe_load(path.read_text())


def env_pip_pins(name: str) -> dict[str, str]:
    """pip section of envs/<name>.yaml -> {package (extras kept, lower-case): version}."""
    deps = read_env(name)["dependencies"]
    pips = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert len(pips) == 1, f"envs/{name}.yaml: expected exactly one `pip:` section, got {len(pips)}"
    out = {}
    for spec in pips[0]:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+(?:\[[A-Za-z0-9_,\-]+\])?)==([^\s;]+)", spec.strip())
        assert m, f"envs/{name}.yaml: pip entry {spec!r} must be pinned exactly (name==version)"
        key = m.group(1).lower()
        assert key not in out, f"envs/{name}.yaml: {key} listed twice"
        out[key] = m.group(2)
    return out


def env_packages(name: str) -> set[str]:
    return {k.lower() for k in env_pip_pins(name)}


# ---------------------------------------------------------------------------- env files themselves


def test_env_files_are_exactly_the_families():
    assert {p.stem for p in ENVS.glob("*.yaml")} == ENV_NAMES


@pytest.mark.parametrize("name", sorted(ENV_NAMES))
def test_env_is_conda_forge_python_and_pinned_pip(name):
    env = read_env(name)
    assert env["channels"][0] == "conda-forge", f"envs/{name}.yaml: first channel must be conda-forge"
    conda_deps = [d for d in env["dependencies"] if isinstance(d, str)]
    want_py = f"python={sys.version_info.major}.{sys.version_info.minor}"
    assert want_py in conda_deps, f"envs/{name}.yaml: needs {want_py} (the venv's Python), has {conda_deps}"
    assert "pip" in conda_deps, f"envs/{name}.yaml: needs `pip` for its pip section"
    extra_conda = [d for d in conda_deps if d not in (want_py, "pip")]
    assert not extra_conda, f"envs/{name}.yaml: conda packages {extra_conda} would escape the pin check"
    assert env_pip_pins(name), f"envs/{name}.yaml: empty pip section"


@pytest.mark.parametrize("name", sorted(ENV_NAMES))
def test_env_pins_agree_with_requirements(name):
    lock = read_lock()
    for pkg, version in env_pip_pins(name).items():
        lock_name = _norm(ENV_TO_LOCK.get(pkg, pkg))
        assert lock_name in lock, (
            f"envs/{name}.yaml pins {pkg}=={version}, but {lock_name} is not in requirements.txt "
            "(add it there first: requirements.txt is the single lock)"
        )
        assert version == lock[lock_name], (
            f"envs/{name}.yaml pins {pkg}=={version}; requirements.txt has {lock_name}=={lock[lock_name]}"
        )


@pytest.mark.parametrize("name", sorted(ENV_NAMES))
def test_env_holds_its_family_packages(name):
    have = env_packages(name)
    missing = (DATA_STACK | FAMILY_EXTRA[name]) - have
    assert not missing, f"envs/{name}.yaml lacks {sorted(missing)}"


def test_tensorflow_and_torch_never_share_an_env():
    for name in ENV_NAMES:
        have = env_packages(name)
        tf = {p for p in have if p.startswith("tensorflow")}
        assert not (tf and "torch" in have), f"envs/{name}.yaml holds both TensorFlow and torch"
    assert "tensorflow[and-cuda]" in env_packages("tf")
    assert "torch" in env_packages("torch")


def test_pin_checker_catches_a_mismatch(tmp_path, monkeypatch):
    """The pin check is not vacuous: a changed version in an env file is reported."""
    bad = read_env("tf")
    bad = json.loads(json.dumps(bad))
    pip = next(d for d in bad["dependencies"] if isinstance(d, dict))["pip"]
    pip[pip.index("tensorflow[and-cuda]==" + read_lock()["tensorflow-cpu"])] = "tensorflow[and-cuda]==0.0.1"
    (tmp_path / "tf.yaml").write_text(yaml.safe_dump(bad))
    monkeypatch.setattr(sys.modules[__name__], "ENVS", tmp_path)
    read_env.cache_clear()
    try:
        with pytest.raises(AssertionError, match=r"tensorflow\[and-cuda\]==0.0.1"):
            test_env_pins_agree_with_requirements("tf")
    finally:
        read_env.cache_clear()


# ---------------------------------------------------------------------------- rules -> envs


def load_rules(config: dict | None = None):
    """(rule name, conda env path or None, has code, script path or None, notebooks) per rule."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    out = []
    with SnakemakeApi(OutputSettings()) as api:
        wapi = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(config=config or {}),
            snakefile=ROOT / "Snakefile",
            workdir=ROOT,
        )
        wf = wapi._workflow  # loads the Snakefile (no DAG, no jobs)
        for r in wf.rules:
            basedir = Path(str(r.basedir))  # directory of the .smk file that defines the rule
            env = None
            if r.conda_env is not None:
                env = (basedir / str(r.conda_env)).resolve()
            script = (basedir / str(r.script)).resolve() if r.script else None
            notebooks = [ROOT / str(f) for f in r.input if str(f).endswith(".ipynb") and "{" not in str(f)]
            has_code = bool(r.script or r.shellcmd or r.notebook or r.is_run or getattr(r, "wrapper", None))
            out.append(
                dict(name=r.name, env=env, has_code=has_code, script=script, shell=r.shellcmd or "",
                     notebooks=notebooks, is_run=r.is_run)
            )
    return out


@pytest.fixture(scope="module")
def rules():
    # default config, plus the download rules (defined only when a source is not "simulate")
    seen = {}
    for cfg in (None, {"plasticc": {"source": "zenodo"}, "sdss": {"source": "sdss"}}):
        for r in load_rules(cfg):
            seen.setdefault(r["name"], r)
    assert len(seen) > 5, "could not load the workflow's rules"
    return seen


def test_download_rules_were_loaded(rules):
    assert any(n.startswith("download") for n in rules), sorted(rules)


def test_every_rule_with_code_has_an_existing_env(rules):
    env_files = {(ENVS / f"{n}.yaml").resolve() for n in ENV_NAMES}
    problems = []
    for name, r in sorted(rules.items()):
        if not r["has_code"]:
            continue
        if r["env"] is None:
            problems.append(f"rule {name}: no conda: directive")
        elif r["env"] not in env_files:
            problems.append(f"rule {name}: conda: {r['env']} is not one of envs/{{{','.join(sorted(ENV_NAMES))}}}.yaml")
        elif not r["env"].is_file():
            problems.append(f"rule {name}: conda env {r['env']} does not exist")
        if r["is_run"]:
            problems.append(f"rule {name}: run: blocks ignore conda:; use script:")
    assert not problems, "\n".join(problems)


def test_every_env_is_used_by_some_rule(rules):
    used = {r["env"].stem for r in rules.values() if r["env"] is not None}
    assert used == ENV_NAMES, f"unused env files: {sorted(ENV_NAMES - used)}"


STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def _module_file(modname: str) -> Path | None:
    parts = modname.split(".")
    base = SRC.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}


def _optional_imports(tree: ast.AST) -> set[int]:
    """ids of import nodes inside `try: ... except ImportError:` (optional: code runs without them)."""
    optional = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        caught = set()
        for h in node.handlers:
            types = h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]
            caught |= {t.id for t in types if isinstance(t, ast.Name)}
        if caught & _IMPORT_ERRORS:
            for stmt in node.body:
                optional |= {id(n) for n in ast.walk(stmt) if isinstance(n, (ast.Import, ast.ImportFrom))}
    return optional


def _imports_of_source(source: str, filename: str, package: str | None) -> set[str]:
    """Fully-qualified names a file imports (relative imports resolved against `package`);
    imports guarded by `except ImportError` are optional and not counted."""
    names = set()
    tree = ast.parse(source, filename=filename)
    optional = _optional_imports(tree)
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                assert package, f"{filename}: relative import outside a package"
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            names.add(mod)
            # `from pkg import sub` may import the sub-module pkg.sub
            names.update(f"{mod}.{a.name}" for a in node.names if a.name != "*")
    return names


def third_party_imports(entry: Path, source: str | None = None) -> dict[str, set[str]]:
    """Third-party top-level modules reachable from `entry` -> the files importing them."""
    found: dict[str, set[str]] = {}
    seen_files: set[Path] = set()
    todo: list[tuple[str, str, str | None]] = [(source if source is not None else entry.read_text(), str(entry), None)]
    while todo:
        src, fname, package = todo.pop()
        for name in _imports_of_source(src, fname, package):
            top = name.split(".")[0]
            if top == "transientrepro":
                parts = name.split(".")
                # importing a.b.c runs a/__init__, a/b/__init__ and a/b/c
                for i in range(1, len(parts) + 1):
                    f = _module_file(".".join(parts[:i]))
                    if f is not None and f not in seen_files:
                        seen_files.add(f)
                        pkg = ".".join(parts[:i]) if f.name == "__init__.py" else ".".join(parts[: i - 1])
                        todo.append((f.read_text(), str(f.relative_to(ROOT)), pkg))
            elif top not in STDLIB and top not in RUNNER_MODULES:
                found.setdefault(top, set()).add(fname)
    return found


def _notebook_source(nb: Path) -> str:
    cells = json.loads(nb.read_text())["cells"]
    lines = []
    for c in cells:
        if c.get("cell_type") != "code":
            continue
        src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        # IPython magics / shell escapes are not Python
        lines += [ln for ln in src.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def test_import_scanner_follows_package_imports(tmp_path):
    """The scanner is not vacuous: it follows transientrepro imports and finds third-party ones."""
    f = tmp_path / "s.py"
    f.write_text(
        "import os\nfrom transientrepro.io import setup_logging\nimport torch.nn as nn\n"
        "def f():\n    import george\n"
        "try:\n    import tabulate\nexcept ImportError:\n    tabulate = None\n"
    )
    found = third_party_imports(f)
    assert "torch" in found and "numpy" in found  # numpy via transientrepro/io.py
    assert "george" in found  # imports inside functions count
    assert "tabulate" not in found  # optional import
    assert "os" not in found and "transientrepro" not in found


def test_every_rule_env_provides_what_its_code_imports(rules):
    problems = []
    checked = 0
    for name, r in sorted(rules.items()):
        if not r["has_code"] or r["env"] is None or not r["env"].is_file():
            continue  # reported by test_every_rule_with_code_has_an_existing_env
        have = env_packages(r["env"].stem)
        needed: dict[str, set[str]] = {}
        if r["script"] is not None:
            assert r["script"].is_file(), f"rule {name}: script {r['script']} missing"
            needed.update(third_party_imports(r["script"]))
        if re.match(r"\s*papermill\b", r["shell"]):
            needed.setdefault("papermill", set()).add(f"rule {name} shell")
            needed.setdefault("ipykernel", set()).add(f"rule {name} shell (kernel python3)")
            assert r["notebooks"], f"rule {name}: papermill rule without an .ipynb input"
            for nb in r["notebooks"]:
                for mod, files in third_party_imports(nb, _notebook_source(nb)).items():
                    needed.setdefault(mod, set()).update(files)
        for mod, files in sorted(needed.items()):
            if mod not in MODULE_TO_DISTS:
                problems.append(f"rule {name}: imports {mod!r} ({sorted(files)[0]}); add it to "
                                "requirements.txt, the env and MODULE_TO_DISTS in tests/test_envs.py")
            elif not (MODULE_TO_DISTS[mod] & have):
                problems.append(f"rule {name}: envs/{r['env'].name} lacks {sorted(MODULE_TO_DISTS[mod])} "
                                f"for `import {mod}` in {sorted(files)}")
        checked += 1
    assert checked >= 10, f"only {checked} rules checked"
    assert not problems, "\n".join(problems)
