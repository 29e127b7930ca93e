"""lmgauge: a pytest benchmark suite for Hugging Face transformer models.

The subpackages follow the data flow, lowest layer first (each may import only those above it
in this list, enforced by import-linter, see pyproject.toml):

    errors, compute, files   one-sentence errors; device, dtype, threads and seeding for
                     torch; files written whole
    sources          models, data and inputs: registry, offline assets, cache, loading
    measure, model   timing, memory, rounds, calibration; parameter anatomy and roofline bounds
    quality          features, baselines, fine-tuning, perplexity, generated text, thresholds
    runtimes         every runtime (transformers, llama.cpp, servers) behind one interface
    record           metric catalogue, journal, recorder, the versioned report
    store            the results database (SQLite or PostgreSQL): schema, writing, queries
    judge            significance, verdicts, drift, compare, gate, steps in a history
    render           tables, summary, plots, exports
    runs             the end of a session; A/B runs and gate-check in fresh processes
    cli, pytest_plugin   the `lmgauge` command; the pytest plugin and session fixtures
"""

__version__ = "0.1.0"


def _fixtures_of_this_checkout() -> None:
    """Run from a checkout, `lmgauge.fixtures` is the checkout's top-level fixtures/ folder
    (an installed wheel has it as lmgauge/fixtures). An editable install maps that name to the
    folder of the checkout it was installed from, so a git worktree of another commit
    (`lmgauge ab --base REF`) would load this code with that checkout's fixtures; a finder
    placed first binds the name to the folder beside this very package, when it is imported."""
    import importlib.abc
    import importlib.util
    import sys
    from pathlib import Path

    package = Path(__file__).resolve().parent
    folder = package.parent / "fixtures"
    if (package / "fixtures").is_dir() or not (folder / "__init__.py").is_file():
        return

    class CheckoutFixtures(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "lmgauge.fixtures":
                return None
            return importlib.util.spec_from_file_location(
                name, folder / "__init__.py", submodule_search_locations=[str(folder)]
            )

    sys.meta_path.insert(0, CheckoutFixtures())


_fixtures_of_this_checkout()
