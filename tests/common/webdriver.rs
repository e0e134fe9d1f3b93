//! Just enough of the W3C WebDriver protocol (JSON over HTTP) to drive Debian's
//! headless Chromium through /usr/bin/chromedriver. Nothing here downloads a browser
//! or a driver: when either is missing the test fails and says how to install them.
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

fn installed(candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| p.to_string())
}

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    client: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a headless Chromium session.
    pub async fn start() -> Browser {
        const HOW: &str = "install Debian's chromium and chromium-driver \
            (apt-get install -y chromium chromium-driver; .ci/run does)";
        let driver_path = installed(&["/usr/bin/chromedriver"])
            .unwrap_or_else(|| panic!("no /usr/bin/chromedriver: {HOW}"));
        let chromium = installed(&["/usr/bin/chromium"])
            .unwrap_or_else(|| panic!("no /usr/bin/chromium: {HOW}"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = client.get(format!("{base}/status")).send().await;
            if let Ok(r) = ready {
                let body: Value = r.json().await.unwrap_or_default();
                if body["value"]["ready"] == true {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not get ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args}
        }}});
        let answer: Value = client
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("Chromium did not start: {answer}"))
            .to_string();
        Browser {
            driver,
            base,
            session,
            client,
            _profile: profile,
        }
    }

    async fn try_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Value> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.client.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        if answer["value"].get("error").is_some() {
            return Err(answer["value"].clone());
        }
        Ok(answer["value"].clone())
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("webdriver {path}: {e}"))
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// Looks `css` up at `endpoint`: "/element" answers the first match, "/elements" all.
    async fn locate(&self, endpoint: &str, css: &str) -> Value {
        let by_css = json!({"using": "css selector", "value": css});
        self.call(reqwest::Method::POST, endpoint, Some(by_css))
            .await
    }

    pub async fn find(&self, css: &str) -> String {
        let found = self.locate("/element", css).await;
        found[ELEMENT_KEY].as_str().unwrap().to_string()
    }

    pub async fn count(&self, css: &str) -> usize {
        let found = self.locate("/elements", css).await;
        found.as_array().map_or(0, Vec::len)
    }

    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// The visible text of the page's body, once there is one (a click's navigation
    /// may still be loading the next page).
    pub async fn text(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let by = json!({"using": "css selector", "value": "body"});
            let found = self
                .try_call(reqwest::Method::POST, "/element", Some(by))
                .await;
            if let Ok(body) = found {
                let body = body[ELEMENT_KEY].as_str().unwrap_or_default().to_string();
                let path = format!("/element/{body}/text");
                if let Ok(text) = self.try_call(reqwest::Method::GET, &path, None).await {
                    return text.as_str().unwrap_or_default().to_string();
                }
            }
            assert!(Instant::now() < deadline, "the page has no body");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the current page (not reloaded) shows `what`.
    pub async fn shows(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.text().await;
            if text.contains(what) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the page does not show {what:?}:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn url(&self) -> String {
        let url = self.call(reqwest::Method::GET, "/url", None).await;
        url.as_str().unwrap_or_default().to_string()
    }

    /// Reloads `url` until `check` holds on the page's text.
    pub async fn wait_for(&self, url: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
        match self.poll_for(url, check).await {
            Ok(text) => text,
            Err(text) => panic!("{what}; the page shows:\n{text}"),
        }
    }

    /// Reloads `url` until its text passes `check`: the text, or the last one seen once
    /// the time is up (for a caller that has more to show about why).
    pub async fn poll_for(
        &self,
        url: &str,
        check: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        // Generous: a console reconcile lists the whole upstream in the background, and on
        // a loaded CI machine (or after the simulator's injected failures, with their
        // retries) that took longer than 30 s once.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            self.goto(url).await;
            let text = self.text().await;
            if check(&text) {
                return Ok(text);
            }
            if Instant::now() >= deadline {
                return Err(text);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Saves a PNG screenshot of the window.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    /// After a panic too: ends the session (so Chromium exits) with a plain HTTP
    /// request, as drop cannot await, then the driver.
    fn drop(&mut self) {
        use std::io::Write;
        let host = self.base.trim_start_matches("http://").to_string();
        if let Ok(mut stream) = std::net::TcpStream::connect(&host) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
                self.session
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                let _ = std::io::Read::read(&mut stream, &mut [0u8; 512]);
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
