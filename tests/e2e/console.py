#!/usr/bin/python3
"""Drive mctl-api's web console in headless Chromium (Selenium and
chromedriver, Debian's packages) the way an operator would: log in, run
jobs from the form, watch the returns arrive, open a job from the history,
see the minions. Used by t_console.sh; each step that a user would check is
asserted, and a screenshot of each page is kept in the artifacts folder.

    console.py URL USER PASSWORD ARTIFACTS DOWN_MINION
"""
import json
import os
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

url, user, password, artifacts, down = sys.argv[1:6]
os.makedirs(artifacts, exist_ok=True)

opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--window-size=1400,1000", "--user-data-dir=" + os.path.join(artifacts, "profile")):
    opts.add_argument(a)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
# A wait polls again when the page was redrawn under an element it read.
wait = WebDriverWait(driver, 20, ignored_exceptions=[StaleElementReferenceException])
step_no = 0


def step(name):
    global step_no
    step_no += 1
    print(f"step {step_no}: {name}", flush=True)


def shot(name):
    driver.save_screenshot(os.path.join(artifacts, f"{step_no:02d}-{name}.png"))


def rows(table_id):
    return driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")


def status_of(minion):
    # The job page redraws its rows (when its event stream opens, say): a
    # row found just before a redraw is read again from the new page.
    for _ in range(5):
        cells = driver.find_elements(By.CSS_SELECTOR,
                                     f'#returns tr[data-id="{minion}"] td.status')
        try:
            return cells[0].text if cells else None
        except StaleElementReferenceException:
            continue
    return None


def api_run(tgt, fun):
    """Run a job through the JSON API, as another client would: its jid."""
    def post(path, body, token=None):
        req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        if token:
            req.add_header("X-Auth-Token", token)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)
    token = post("/login", {"username": user, "password": password})["return"][0]["token"]
    return post("/run", {"tgt": tgt, "fun": fun}, token)["return"]["jid"]


def run_from_form(tgt, fun, args=""):
    driver.get(url + "/launch")
    form = wait.until(EC.presence_of_element_located((By.ID, "run")))
    form.find_element(By.NAME, "tgt").clear()
    form.find_element(By.NAME, "tgt").send_keys(tgt)
    Select(form.find_element(By.NAME, "tgt_type")).select_by_visible_text("glob")
    form.find_element(By.NAME, "fun").send_keys(fun)
    if args:
        form.find_element(By.NAME, "args").send_keys(args)
    driver.find_element(By.ID, "preview").click()
    wait.until(lambda d: d.find_element(By.ID, "preview-out").text)
    preview = driver.find_element(By.ID, "preview-out").text
    shot("preview")
    driver.find_element(By.ID, "submit-run").click()
    alert = wait.until(EC.alert_is_present())
    question = alert.text
    alert.accept()
    wait.until(EC.url_contains("/job/"))
    return preview, question


try:
    step("the console asks for a login, and a wrong password is refused")
    driver.get(url + "/")
    wait.until(EC.presence_of_element_located((By.ID, "login")))
    assert driver.current_url.endswith("/login"), driver.current_url
    driver.find_element(By.NAME, "username").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys("wrong password")
    driver.find_element(By.CSS_SELECTOR, "#login button").click()
    wait.until(EC.presence_of_element_located((By.ID, "login-error")))
    shot("login-failed")

    step("logging in lands on the job list")
    driver.find_element(By.NAME, "username").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#login button").click()
    wait.until(EC.presence_of_element_located((By.ID, "jobs")))
    assert user in driver.find_element(By.CSS_SELECTOR, "header .who").text
    shot("jobs")

    step("run test.ping from the form: preview, confirm, the job page")
    preview, question = run_from_form("*", "test.ping")
    assert preview.startswith("3 minions"), preview
    assert question == "Run test.ping on 3 minions?", question
    jid = driver.find_element(By.ID, "jid").text
    wait.until(lambda d: status_of("web1") == "ok" and status_of("web2") == "ok")
    wait.until(lambda d: status_of(down) == "not sent: not connected")
    shot("job-ping")
    # The minion that is down comes first, as what one looks for.
    assert rows("returns")[0].get_attribute("data-id") == down

    step("a slow job's returns arrive on the open page, without reloading it")
    run_from_form("web*", "cmd.run", "sleep 2; echo slow-done")
    driver.execute_script("window.mctlMarker = 'still-here'")
    assert status_of("web1") == "running", status_of("web1")
    shot("job-running")
    wait.until(lambda d: status_of("web1") == "ok" and status_of("web2") == "ok")
    assert driver.execute_script("return window.mctlMarker") == "still-here"
    assert "slow-done" in driver.find_element(
        By.CSS_SELECTOR, '#returns tr[data-id="web1"] pre.stdout').text
    shot("job-arrived")

    step("a failing command shows each minion as failed, with its retcode and stderr")
    run_from_form("web1", "cmd.run", "echo broken >&2; exit 3")
    wait.until(lambda d: status_of("web1") == "failed")
    row = driver.find_element(By.CSS_SELECTOR, '#returns tr[data-id="web1"]')
    assert "3" in row.find_elements(By.CSS_SELECTOR, "td.num")[0].text
    assert "broken" in row.find_element(By.CSS_SELECTOR, "pre.stderr").text
    shot("job-failed")

    step("the job list shows new jobs live, and opens a job from the history")
    driver.get(url + "/")
    wait.until(EC.presence_of_element_located((By.ID, "jobs")))
    driver.execute_script("window.mctlMarker = 'list'")
    before = len(rows("jobs"))
    # Another client (the JSON API) runs a job while the page is open; the
    # page's event stream may take a moment to connect, so poll.
    new_jid = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        new_jid = api_run("web2", "test.ping")
        try:
            WebDriverWait(driver, 2).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, f'#jobs tr[data-jid="{new_jid}"]'))
            break
        except Exception:
            new_jid = None
    assert new_jid, "no new job appeared on the open job list"
    assert driver.execute_script("return window.mctlMarker") == "list"
    assert len(rows("jobs")) >= before + 1
    shot("jobs-live")
    driver.find_element(By.CSS_SELECTOR, f'#jobs a[href="/job/{jid}"]').click()
    wait.until(EC.presence_of_element_located((By.ID, "returns")))
    assert driver.find_element(By.ID, "jid").text == jid
    assert status_of(down) == "not sent: not connected"
    shot("job-from-history")

    step("copy as JSON gives the job as the API has it")
    driver.find_element(By.ID, "copy-json").click()
    area = wait.until(EC.presence_of_element_located((By.ID, "job-json")))
    assert f'"jid": "{jid}"' in area.get_attribute("value")

    step("the minion list shows who is up and who is down")
    driver.get(url + "/fleet")
    wait.until(EC.presence_of_element_located((By.ID, "minions")))
    assert driver.find_element(By.ID, "fleet-counts").text == "3 accepted: 2 up, 1 down"
    first = rows("minions")[0]
    assert first.get_attribute("data-id") == down
    assert first.find_element(By.CSS_SELECTOR, "td.state").text == "down"
    shot("fleet")
    driver.find_element(By.CSS_SELECTOR, 'a[href="/fleet/web1"]').click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "pre.grains")))
    assert '"id": "web1"' in driver.find_element(By.CSS_SELECTOR, "pre.grains").text
    shot("minion")

    step("logging out ends the session")
    driver.find_element(By.ID, "logout").click()
    wait.until(EC.url_contains("/login"))
    driver.get(url + "/")
    wait.until(EC.presence_of_element_located((By.ID, "login")))
    shot("logged-out")
    print("console: all steps passed")
except Exception:
    shot("failure")
    print("browser console:", file=sys.stderr)
    try:
        for entry in driver.get_log("browser"):
            print("  ", entry, file=sys.stderr)
    except Exception:
        pass
    raise
finally:
    driver.quit()
