"""schemathesis hooks for bench/fuzz_api.sh: a check that no answer carries a canary of
the private layer the script plants (its title, field name, attribute value, extent)."""
import schemathesis

CANARIES = ["CANARY-TITLE-7Q", "canary_field_7q", "CANARY-VALUE-7Q", "9.0123456"]


def sent(response, canary):
    """Whether the request itself carried the canary: Hypothesis seeds its strings with the
    literals of local Python code (this file), and the server may echo input back."""
    req = response.request
    body = req.body if isinstance(req.body, str) else (req.body or b"").decode("utf-8", "replace")
    from urllib.parse import unquote
    return canary in unquote(req.url) or canary in body


@schemathesis.check
def no_canary(ctx, response, case):
    text = response.text or ""
    head = " ".join(f"{k}: {v}" for k, v in response.headers.items())
    found = [c for c in CANARIES if (c in text or c in head) and not sent(response, c)]
    if found:
        raise AssertionError(f"the answer carries canaries {found}")
