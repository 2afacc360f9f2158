#!/usr/bin/env python3
"""The web console in a real headless Chromium, against a real `hotline up`.

    HOTLINE_BIN=target/debug/hotline HOTLINE_SCREENSHOTS=DIR python suite.py

Run by infra/local/tests/console.rs (cargo test -p hotline-local --test console). Starts
`hotline up` on free ports with a temporary data directory, adds a second organization
(`hotline apply`) and a viewer (`hotline users add`), places the demo call and one to the
other organization (`hotline call`), then drives Chromium through Playwright: sign in,
the call with its recording, a to-do, an agent (and a stale save's conflict), a number's
SMS switch, a webhook URL copied, a number bought and a test text sent, an invitation made
and accepted, sign out; a viewer cannot save; another organization's call is not found. Every page is checked with axe-core (no serious or critical
violation) and photographed at 390 px and 1280 px into HOTLINE_SCREENSHOTS.

Exit status 0 when every check passed; 1 with the failures listed.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable

from playwright.sync_api import Page, sync_playwright

HERE = pathlib.Path(__file__).resolve().parent
HOTLINE = os.environ["HOTLINE_BIN"]
CHROMIUM = os.environ.get("HOTLINE_CHROMIUM", "/usr/bin/chromium")
SHOTS = pathlib.Path(os.environ["HOTLINE_SCREENSHOTS"])
AXE = (HERE / "axe.min.js").read_text(encoding="utf-8")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Deadlines for things to happen, not assertions about speed: a slow machine only waits.
READY_SECS = 90
POSTCALL_SECS = 90
VIEWER = ("viewer@demo.example", "a viewer's long password")
OTHER_NUMBER = "+15550100999"
OTHER_CONFIG = """
organizations:
  - id: other
    name: Another Clinic
    twilio:
      account_sid: "AC11111111111111111111111111111111"
      auth_token: "11111111111111111111111111111111"
    reports:
      emails: []
      delete_twilio_recordings: false
    agents:
      - id: front
        name: Front desk
        provider: openai_realtime
        model: gpt-realtime
        voice: marin
        greeting: null
        instructions: You answer the phone for Another Clinic.
        tools: []
        analyzers: []
    numbers:
      - number: "%s"
        agent: front
""" % OTHER_NUMBER

failures: list[str] = []
figures: dict[str, float] = {}


def free_addr() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


class Stack:
    """`hotline up` and the CLI beside it, sharing one environment."""

    def __init__(self, data_dir: pathlib.Path) -> None:
        self.http = free_addr()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(data_dir),
            "HOTLINE_HTTP_ADDR": self.http,
            "HOTLINE_STREAM_ADDR": free_addr(),
            "HOTLINE_DATA_DIR": str(data_dir / "store"),
            "RUST_LOG": "warn",
        }
        self.base = f"http://{self.http}"
        self.lines: list[str] = []
        self.proc: subprocess.Popen[str] | None = None

    def cli(self, *args: str, stdin: str | None = None) -> str:
        out = subprocess.run(
            [HOTLINE, *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"hotline {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def up(self) -> None:
        self.proc = subprocess.Popen(
            [HOTLINE, "up"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        ready = threading.Event()

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                if line.startswith("Try it:"):
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(READY_SECS) or self.proc.poll() is not None:
            raise RuntimeError("hotline up never got ready:\n" + "\n".join(self.lines))

    def banner(self, pattern: str) -> re.Match[str]:
        for line in self.lines:
            if m := re.search(pattern, line):
                return m
        raise RuntimeError(f"the banner has no line like {pattern!r}:\n" + "\n".join(self.lines))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def api(self, key: str, path: str) -> dict:
        req = urllib.request.Request(self.base + path, headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - our own stack
            return json.load(resp)


def check(name: str, ok: bool, why: str = "") -> None:
    if not ok:
        failures.append(f"{name}: {why}")
        print(f"FAIL {name}: {why}", flush=True)
    else:
        print(f"ok   {name}", flush=True)


def accessible(page: Page, name: str) -> None:
    """axe-core on the page as it is: no serious or critical violation."""
    page.add_script_tag(content=AXE)
    found = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations
              .filter(v => v.impact === 'serious' || v.impact === 'critical')
              .map(v => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map(n => n.target.join(' ')).join(', ')}`);
        }"""
    )
    check(f"axe {name}", not found, "; ".join(found))


def photograph(page: Page, name: str) -> None:
    """The page at phone and laptop widths, and axe at both."""
    for width, height in ((390, 844), (1280, 900)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        accessible(page, f"{name} at {width}px")


def sign_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(base + "/console")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/console/calls"))


def step(name: str, fn: Callable[[], None]) -> bool:
    started = time.monotonic()
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - every failure is reported, then the run fails
        failures.append(f"{name}: {type(e).__name__}: {e}")
        print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
        return False
    finally:
        figures[name] = round(time.monotonic() - started, 2)
    return True


def main() -> int:
    SHOTS.mkdir(parents=True, exist_ok=True)
    data = pathlib.Path(tempfile.mkdtemp(prefix="hotline-console-"))
    stack = Stack(data)
    t0 = time.monotonic()
    try:
        stack.up()
        figures["hotline up ready"] = round(time.monotonic() - t0, 2)
        return run(stack, data)
    finally:
        stack.stop()
        shutil.rmtree(data, ignore_errors=True)
        figures["total"] = round(time.monotonic() - t0, 2)
        print("figures (s): " + json.dumps(figures), flush=True)


def run(stack: Stack, data: pathlib.Path) -> int:
    console = stack.banner(r"  console\s+(\S+/console)\s+sign in as (\S+) / (\S+)")
    console_url, email, password = console.group(1), console.group(2), console.group(3)
    check("the banner prints the console URL", console_url == stack.base + "/console", console_url)
    key = stack.banner(r"API key\s+(\S+)").group(1)
    number = stack.banner(r"hotline call --to (\+\d+)").group(1)

    other = data / "other.yaml"
    other.write_text(OTHER_CONFIG, encoding="utf-8")
    stack.cli("apply", "-f", str(other))
    stack.cli(
        "users", "add", "--org", "demo", "--email", VIEWER[0], "--role", "viewer",
        "--password-stdin", stdin=VIEWER[1] + "\n",
    )
    t = time.monotonic()
    stack.cli("call", "--to", number, "--duration", "6", "--record", str(data / "heard.wav"))
    stack.cli("call", "--to", OTHER_NUMBER, "--duration", "2", "--record", str(data / "other.wav"))
    figures["two calls placed"] = round(time.monotonic() - t, 2)
    calls = stack.api(key, "/api/v1/calls")["calls"]
    if not calls:
        raise RuntimeError("the demo call is not in the API")
    sid = calls[0]["sid"]
    other_sid = json.loads(stack.cli("calls", "--org", "other", "--json"))[0]["sid"]
    # The work after the call (recording, transcript, analysis, to-dos) is done when the
    # call record says so.
    deadline = time.monotonic() + POSTCALL_SECS
    call = {}
    while time.monotonic() < deadline:
        call = stack.api(key, f"/api/v1/calls/{sid}")
        if call["post_call"].get("completed_at"):
            break
        time.sleep(0.5)
    figures["post-call done after the calls"] = round(time.monotonic() - t, 2)
    check("the post-call work finished", bool(call["post_call"].get("completed_at")), json.dumps(call["post_call"])[:600])

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            owner = browser.new_context(
                viewport={"width": 1280, "height": 900},
                bypass_csp=True,  # axe-core is injected as an inline script
            )
            owner.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.base)
            page = owner.new_page()
            base = stack.base

            def signing_in() -> None:
                page.goto(base + "/console/calls")
                check("signed out, a page sends to sign-in", "/console/sign-in" in page.url, page.url)
                photograph(page, "sign-in")
                page.get_by_label("E-mail").fill(email)
                page.get_by_label("Password").fill("not the password at all")
                page.get_by_role("button", name="Sign in").click()
                check("a wrong password is refused in words", page.get_by_text("the e-mail or the password is wrong").is_visible(), page.content()[:300])
                page.get_by_label("Password").fill(password)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(re.compile(r"/console/calls"))

            def the_call_list() -> None:
                link = page.locator(f'a[href="/console/calls/{sid}"]')
                check("the demo call is listed", link.count() == 1, page.content()[:500])
                photograph(page, "calls")
                page.goto(base + "/console/calls?status=completed&direction=inbound&agent=receptionist")
                check("filters keep the call", page.locator(f'a[href="/console/calls/{sid}"]').count() == 1)
                page.goto(base + "/console/calls?status=busy")
                check("a filter that matches nothing lists nothing", page.get_by_text("No calls match.").is_visible())
                page.goto(base + "/console/calls?date=not-a-date")
                check("a bad date is shown next to its field", page.locator("#filter-date-error").is_visible())

            def the_call() -> None:
                page.goto(base + "/console/calls")
                page.locator(f'a[href="/console/calls/{sid}"]').click()
                page.wait_for_url(re.compile(sid))
                page.wait_for_function(
                    "() => { const a = document.getElementById('recording');"
                    " return a && (a.readyState >= 1 || a.error); }",
                    timeout=30_000,
                )
                state = page.evaluate(
                    "() => { const a = document.getElementById('recording');"
                    " return {ready: a.readyState, error: a.error && a.error.code, duration: a.duration}; }"
                )
                check("the recording loads in the audio element", state["error"] is None and state["ready"] >= 1, json.dumps(state))
                check("the conversation is shown", page.locator("ol.turns li").count() > 0)
                check("the post-call stages are in words", page.locator("ul.stages li").count() > 0)
                photograph(page, "call")

            def a_todo() -> None:
                page.goto(f"{base}/console/calls/{sid}")
                buttons = page.get_by_role("button", name=re.compile("^Complete: "))
                before = buttons.count()
                check("the call has an open to-do", before > 0, page.content()[:300])
                buttons.first.click()
                page.wait_for_url(re.compile("done=completed"))
                check("the to-do is completed", page.get_by_text("To-do completed.").is_visible())
                check("one open to-do fewer", page.get_by_role("button", name=re.compile("^Complete: ")).count() == before - 1)

            def an_agent() -> None:
                page.goto(base + "/console/agents")
                photograph(page, "agents")
                page.get_by_role("link", name="Demo receptionist").click()
                page.get_by_label("Greeting").fill("Bright Smile Dental, one moment please.")
                page.get_by_role("button", name="Save").click()
                page.wait_for_url(re.compile("saved=1"))
                check("the agent is saved", page.get_by_text("Saved.").is_visible())
                check("the new greeting is stored", page.get_by_label("Greeting").input_value() == "Bright Smile Dental, one moment please.")
                photograph(page, "agent")
                # Two tabs on one agent: the second save is stale.
                stale = owner.new_page()
                stale.goto(base + "/console/agents/receptionist")
                page.reload()
                page.get_by_label("Voice").fill("cedar")
                page.get_by_role("button", name="Save").click()
                page.wait_for_url(re.compile("saved=1"))
                stale.get_by_label("Greeting").fill("A change made on an old page")
                stale.get_by_role("button", name="Save").click()
                conflict = stale.get_by_role("alert").filter(has_text="Someone else saved this agent")
                check("a stale save is explained as a conflict", conflict.is_visible(), stale.content()[:400])
                check("the stale edit is kept in the form", stale.get_by_label("Greeting").input_value() == "A change made on an old page")
                photograph(stale, "agent-conflict")
                stale.close()
                page.goto(base + "/console/agents/receptionist")
                page.get_by_label("Longest call (seconds)").fill("-5")
                page.get_by_role("button", name="Save").click()
                check("a bad limit is shown next to its field", page.locator("#agent-max_duration_secs-error").is_visible())

            def a_number() -> None:
                page.goto(base + "/console/numbers")
                form = page.get_by_role("form", name=f"Number {number}")
                sms = form.get_by_label("SMS: answer texts")
                check("SMS starts on", sms.is_checked())
                sms.uncheck()
                with page.expect_navigation():
                    form.get_by_role("button", name=f"Save {number}").click()
                said = " / ".join(page.locator(".error, .field-error").all_inner_texts())
                check("the number is saved", page.get_by_text("Number saved.").is_visible(), said or page.url)
                sms = page.get_by_role("form", name=f"Number {number}").get_by_label("SMS: answer texts")
                check("SMS is now off", not sms.is_checked())
                photograph(page, "numbers")

            def a_webhook_url() -> None:
                page.goto(base + "/console/numbers")
                url = page.locator("#hook-voice").inner_text().strip()
                check("the voice webhook URL is hotline's", url == base + "/twilio/voice", url)
                page.get_by_role("button", name=re.compile("Copy A call comes in")).click()
                page.wait_for_function("() => document.querySelector('.copied').textContent.length > 0")
                copied = page.evaluate("() => navigator.clipboard.readText()")
                check("the URL is on the clipboard", copied == url, copied)

            def the_lists() -> None:
                for name in ("contacts", "todos", "settings"):
                    page.goto(f"{base}/console/{name}")
                    photograph(page, name)
                page.goto(base + "/console/todos?q=zzzz-no-such-thing")
                check("a to-do search that matches nothing lists nothing", page.get_by_text("No to-dos match.").is_visible())
                page.goto(base + "/console/password")
                photograph(page, "password")

            def buying_and_texting() -> None:
                page.goto(base + "/console/numbers")
                page.get_by_label("Area code").fill("55")
                page.get_by_role("button", name="Buy").click()
                check("a short area code is shown next to its field", page.locator("#buy-area_code-error").is_visible())
                page.get_by_label("Area code").fill("415")
                page.get_by_role("button", name="Buy").click()
                said = " / ".join(page.locator(".error, .field-error").all_inner_texts())
                check("a number is bought by area code", page.get_by_text("Number bought and set up.").is_visible(), said or page.url)
                check("the bought number is listed", page.locator("form.number").count() == 2, str(page.locator("form.number").count()))
                page.get_by_label("To (E.164)").fill("+14155559876")
                page.get_by_role("textbox", name="Message", exact=True).fill("A test from the console")
                page.get_by_role("button", name="Send").click()
                said = " / ".join(page.locator(".error, .field-error").all_inner_texts())
                check("a test text is sent", page.get_by_text("Test text sent.").is_visible(), said or page.url)

            def an_invitation() -> None:
                page.goto(base + "/console/settings")
                page.get_by_role("textbox", name="E-mail", exact=True).fill("newcomer@demo.example")
                page.get_by_role("button", name="Invite").click()
                link = page.locator("#once-secret").inner_text().strip()
                check("the invitation link is shown once", "/console/invitations/accept?token=" in link, link)
                page.goto(base + "/console/settings")
                check("and only once", page.locator("#once-secret").count() == 0)
                ctx = browser.new_context(bypass_csp=True)
                newcomer = ctx.new_page()
                newcomer.goto(link)
                photograph(newcomer, "accept")
                newcomer.get_by_label("New password").fill("a newcomer's password")
                newcomer.get_by_label("The same password again").fill("a different one entirely")
                newcomer.get_by_role("button", name="Accept and continue").click()
                check("different passwords are shown next to the field", newcomer.locator("#accept-confirm-error").is_visible())
                newcomer.get_by_label("New password").fill("a newcomer's password")
                newcomer.get_by_label("The same password again").fill("a newcomer's password")
                newcomer.get_by_role("button", name="Accept and continue").click()
                newcomer.wait_for_url(re.compile("/console/sign-in"))
                sign_in(newcomer, base, "newcomer@demo.example", "a newcomer's password")
                check("the newcomer signs in as a viewer", newcomer.get_by_text("(viewer)").is_visible())
                ctx.close()

            def another_organization() -> None:
                resp = page.goto(f"{base}/console/calls/{other_sid}")
                check("another organization's call is not found", resp is not None and resp.status == 404, str(resp and resp.status))
                check("the not-found page says so", page.get_by_role("heading", name="Not found").is_visible())
                photograph(page, "not-found")

            def signing_out() -> None:
                page.goto(base + "/console/calls")
                page.get_by_role("button", name="Sign out").click()
                page.wait_for_url(re.compile("/console/sign-in"))
                page.goto(base + "/console/calls")
                check("signed out, the calls need signing in again", "/console/sign-in" in page.url, page.url)

            def a_viewer() -> None:
                ctx = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
                viewer = ctx.new_page()
                sign_in(viewer, base, *VIEWER)
                viewer.goto(base + "/console/agents/receptionist")
                save = viewer.get_by_role("button", name="Save")
                check("a viewer's save button is disabled", save.is_disabled())
                check("a viewer is told they read only", viewer.get_by_text("You are a viewer").is_visible())
                # Past the disabled form, the API still refuses.
                viewer.evaluate("() => document.querySelectorAll('fieldset').forEach(f => f.disabled = false)")
                with viewer.expect_navigation():
                    viewer.get_by_role("button", name="Save").click()
                check("a viewer's forced save is refused", viewer.get_by_text("this role may only read").is_visible(), viewer.content()[:400])
                viewer.goto(base + "/console/numbers")
                check("a viewer cannot switch a number", viewer.get_by_role("button", name=f"Save {number}").is_disabled())
                photograph(viewer, "viewer-numbers")
                ctx.close()

            for name, fn in [
                ("sign in", signing_in),
                ("the calls", the_call_list),
                ("one call", the_call),
                ("a to-do", a_todo),
                ("an agent", an_agent),
                ("a number", a_number),
                ("a webhook URL", a_webhook_url),
                ("contacts, to-dos, settings", the_lists),
                ("buying and texting", buying_and_texting),
                ("an invitation", an_invitation),
                ("another organization", another_organization),
                ("sign out", signing_out),
                ("a viewer", a_viewer),
            ]:
                step(name, fn)
        finally:
            browser.close()
    if failures:
        print(f"\n{len(failures)} failure(s):", flush=True)
        for f in failures:
            print("  - " + f, flush=True)
        return 1
    print(f"\nall console checks passed; screenshots in {SHOTS}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
