"""A network where only a proxy reaches the Hub: the direct probe of huggingface.co would
be refused there, so it is left out and the hub client (which honours the proxy) tries."""

from __future__ import annotations

HUB_ID = "vlmtop-test/tiny-llava"


def test_the_hub_probe_is_left_to_the_proxy_when_one_is_set(monkeypatch):
    from huggingface_hub import constants

    from vlmtop.core.errors import VlmtopError
    from vlmtop.core.model_loading import check_hub_reachable

    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "https://127.0.0.1:9")  # nothing listens: refused at once
    try:
        check_hub_reachable(HUB_ID)
    except VlmtopError as exc:
        assert "HF_HUB_OFFLINE" in str(exc)
    else:
        raise AssertionError("a direct connection to a closed port was taken for a reachable Hub")
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://proxy.invalid:3128")
        check_hub_reachable(HUB_ID)  # a proxy-only network: the hub client goes through the proxy
        monkeypatch.delenv(name)
