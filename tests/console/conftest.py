"""Fixtures of the console tests: one headless Chromium per session (Debian's chromium and
chromedriver, driven by Selenium), `alpr serve` processes over one SQLite store, and a real
dispatcher per test."""
import os
import shutil

import pytest

from console_helpers import DispatcherThread, Server
from store_fixtures import db_url, event_store, pg_server  # noqa: F401  (routes: both backends)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="session")
def shots(tmp_path_factory):
    """Where screenshots go: $ALPR_CONSOLE_SCREENSHOTS (docs/img to refresh the README's),
    else a temp folder."""
    folder = os.environ.get("ALPR_CONSOLE_SCREENSHOTS") or str(tmp_path_factory.mktemp("shots"))
    os.makedirs(folder, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip("chromium / chromedriver not installed (make chromium: apt-get install "
                    "chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed "
                                    "(make venv installs it)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,900", "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("console"))


@pytest.fixture(scope="session")
def console_db(data_dir):
    """The SQLite store the served consoles and the dispatcher share."""
    return "sqlite:///%s" % os.path.join(data_dir, "events.db")


@pytest.fixture(scope="session")
def server(redis_server, console_db, data_dir):
    """The console on loopback without a login (the default)."""
    srv = Server(console_db, redis_server.url, data_dir)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def login_server(redis_server, console_db, data_dir):
    """The console with a token and a password: a login is required (served as localhost,
    so its cookie is not the other server's)."""
    srv = Server(console_db, redis_server.url, data_dir,
                 ["--token", "tok-123", "--password", "pass-456"], name="localhost")
    yield srv
    srv.stop()


@pytest.fixture
def dispatcher(redis_client, console_db, data_dir):
    d = DispatcherThread(redis_client, console_db, os.path.join(data_dir, "evidence")).start()
    yield d
    d.stop()
