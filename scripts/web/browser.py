"""Opens pages of web/ in a fresh headless Chromium (WebGPU on) through the DevTools protocol:
the one driver of scripts/web/'s page checks and benchmarks. Needs `websocket-client`.

    python3 scripts/web/browser.py bench URL            # web/bench.html's JSON result
    python3 scripts/web/browser.py train URL OPT LR L1 L2 EPOCHS   # the demo page's result
    python3 scripts/web/browser.py compare URL      # the demo page's six-configuration grid
"""
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket

FLAGS = ["--headless=new", "--no-sandbox", "--enable-unsafe-webgpu", "--enable-features=Vulkan",
         # Chromium's background connections are refused on machines without a network.
         "--disable-background-networking", "--disable-component-update", "--no-first-run"]


class Browser:
    """One fresh Chromium with its own profile, and its first page."""

    def __init__(self, port=9333):
        self.profile = tempfile.mkdtemp()
        self.process = subprocess.Popen(
            ["chromium", *FLAGS, f"--remote-debugging-port={port}", f"--user-data-dir={self.profile}",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while True:
            try:
                targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
                page = next(t for t in targets if t["type"] == "page")
                break
            except (OSError, StopIteration):
                if time.time() > deadline:
                    raise RuntimeError("Chromium did not start")
                time.sleep(0.2)
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"])
        self.calls = 0

    def call(self, method, **params):
        self.calls += 1
        self.ws.send(json.dumps({"id": self.calls, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.calls:
                if "error" in message:
                    raise RuntimeError(message["error"])
                return message.get("result")

    def js(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True,
                           returnByValue=True)
        return result["result"].get("value")

    def wait_for(self, expression, timeout):
        deadline = time.time() + timeout
        while not (value := self.js(expression)):
            if time.time() > deadline:
                raise RuntimeError(f"timed out waiting for {expression}")
            time.sleep(0.1)
        return value

    def close(self):
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def bench(url):
    browser = Browser()
    try:
        browser.call("Page.navigate", url=url)
        return browser.wait_for("window.__result", 900)
    finally:
        browser.close()


def train(url, optimizer, lr, l1, l2, epochs, activation="relu", init="default", dropout=0.0,
          clip=0.0):
    """Fills in the demo page's form, trains, and returns what `train` gave the page."""
    browser = Browser()
    try:
        browser.call("Page.navigate", url=url)
        browser.wait_for("document.getElementById('status')?.textContent === 'Ready.'", 60)
        browser.js(f"""(() => {{
            const f = document.getElementById('settings');
            f.optimizer.value = {json.dumps(optimizer)}; f.lr.value = {lr}; f.l1.value = {l1};
            f.l2.value = {l2}; f.epochs.value = {epochs};
            f.activation.value = {json.dumps(activation)}; f.init.value = {json.dumps(init)};
            f.dropout.value = {dropout}; f.clip.value = {clip};
            f.querySelector('button[type=submit]').click(); }})()""")
        browser.wait_for("window.lastResult || document.getElementById('error').textContent", 600)
        error = browser.js("document.getElementById('error').textContent")
        if error:
            raise RuntimeError(error)
        return browser.js("window.lastResult")
    finally:
        browser.close()


def compare(url):
    """Clicks the demo page's comparison of the six configurations and returns what `compare`
    gave the page, with the table and the canvas's size as the page shows them."""
    browser = Browser()
    try:
        browser.call("Page.navigate", url=url)
        browser.wait_for("document.getElementById('status')?.textContent === 'Ready.'", 60)
        browser.js("document.getElementById('compare').click()")
        browser.wait_for("window.lastComparison || document.getElementById('error').textContent", 900)
        error = browser.js("document.getElementById('error').textContent")
        if error:
            raise RuntimeError(error)
        result = browser.js("window.lastComparison")
        result["page_table"] = browser.js(
            "[...document.querySelectorAll('#comparison tr')].map(r => [...r.cells].map(c => c.textContent))")
        return result
    finally:
        browser.close()


if __name__ == "__main__":
    command, url, *rest = sys.argv[1:]
    if command == "bench":
        print(json.dumps(bench(url)))
    elif command == "compare":
        print(json.dumps(compare(url)))
    else:
        optimizer, lr, l1, l2, epochs, *layers = rest
        print(json.dumps(train(url, optimizer, float(lr), float(l1), float(l2), int(epochs),
                               *layers)))
