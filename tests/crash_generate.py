"""A pytest plugin that makes every test_generate raise: a commit whose bench crashes
(`lmgauge ab --new-args "-p tests.crash_generate"`)."""


def pytest_runtest_call(item):
    if getattr(item, "originalname", "") == "test_generate":
        raise RuntimeError("injected crash in test_generate")
