"""Drives the status page in a real headless Chromium over WebDriver
(Selenium + Debian's chromium-driver) and reports what a person would see.

Reads a JSON job on stdin: {"url": "http://127.0.0.1:P", "admin": JWT,
"tenant": JWT, "screenshot": PATH, "profile": DIR}. Prints one JSON object
of observations; the Rust test (tests/daemon/ui.rs) makes the assertions.
Tokens travel on stdin, never argv.
"""

import json
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
]


def rows(driver):
    out = []
    for tr in driver.find_elements(By.CSS_SELECTOR, "#freshness tbody tr"):
        out.append({
            "tenant": tr.get_attribute("data-tenant"),
            "database": tr.get_attribute("data-database"),
            "class": tr.get_attribute("class"),
            "status": tr.find_element(By.CSS_SELECTOR, ".badge").text,
            "cells": [td.text for td in tr.find_elements(By.TAG_NAME, "td")],
            "trend_points": len(tr.find_elements(By.CSS_SELECTOR, "svg.trend polyline")),
        })
    return out


def sign_in(driver, wait, token):
    box = wait.until(ec.visibility_of_element_located((By.ID, "token")))
    box.send_keys(token)
    driver.find_element(By.ID, "sign-in").click()
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "true")


def main():
    job = json.load(sys.stdin)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument("--user-data-dir=" + job["profile"])
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    seen = {}
    try:
        wait = WebDriverWait(driver, 30)
        driver.get(job["url"] + "/ui")
        seen["title"] = driver.title
        seen["sign_in_visible"] = driver.find_element(By.ID, "sign-in-panel").is_displayed()

        sign_in(driver, wait, job["admin"])
        seen["admin_who"] = driver.find_element(By.ID, "who").text
        seen["admin_rows"] = rows(driver)
        seen["failures"] = [
            [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in driver.find_elements(By.CSS_SELECTOR, "#failures tbody tr")
        ]
        seen["url_after_sign_in"] = driver.current_url
        seen["cookies"] = driver.get_cookies()
        seen["stored"] = driver.execute_script(
            "return sessionStorage.getItem('containarium.token') !== null"
        )
        driver.save_screenshot(job["screenshot"])

        # A reload keeps the tab signed in (sessionStorage), without a prompt.
        driver.refresh()
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "true")
        seen["rows_after_reload"] = len(rows(driver))

        driver.find_element(By.ID, "sign-out").click()
        seen["stored_after_sign_out"] = driver.execute_script(
            "return sessionStorage.getItem('containarium.token') !== null"
        )
        sign_in(driver, wait, job["tenant"])
        seen["tenant_who"] = driver.find_element(By.ID, "who").text
        seen["tenant_rows"] = rows(driver)

        driver.find_element(By.ID, "sign-out").click()
        box = wait.until(ec.visibility_of_element_located((By.ID, "token")))
        box.send_keys("not-a-token")
        driver.find_element(By.ID, "sign-in").click()
        wait.until(lambda d: d.find_element(By.ID, "error").text != "")
        seen["bad_token_error"] = driver.find_element(By.ID, "error").text
        seen["bad_token_table_shown"] = driver.find_element(By.ID, "status").is_displayed()
    finally:
        driver.quit()
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
