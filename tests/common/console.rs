//! A cookie-keeping client for the admin console, and the `[admin]` TOML of the tests'
//! accounts (cheap argon2 parameters: the hashes are verified on every login).
use std::collections::HashMap;

use reqwest::StatusCode;

pub const PASSWORD: &str = "correct horse battery staple";

/// An argon2id PHC string of `password` with small costs.
pub fn cheap_hash(password: &str) -> String {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let params = argon2::Params::new(1024, 1, 1, None).unwrap();
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string()
}

/// `[admin]` with accounts `(name, role, tenants)`, all with [`PASSWORD`].
pub fn admin_toml(accounts: &[(&str, &str, &[&str])]) -> String {
    let mut out = String::from("\n[admin]\nlogin_attempts_per_minute = 5\n");
    for (name, role, tenants) in accounts {
        let tenants: Vec<String> = tenants.iter().map(|t| format!("{t:?}")).collect();
        out.push_str(&format!(
            "[[admin.accounts]]\nname = \"{name}\"\nrole = \"{role}\"\npassword_hash = '{}'\ntenants = [{}]\n",
            cheap_hash(PASSWORD),
            tenants.join(", ")
        ));
    }
    out
}

pub struct Console {
    pub root: String,
    client: reqwest::Client,
    pub cookies: HashMap<String, String>,
    /// Every `Set-Cookie` header seen, for attribute checks.
    pub set_cookies: Vec<String>,
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

impl Page {
    /// Asserts the page shows each of `texts`.
    pub fn assert_shows(&self, texts: &[&str]) {
        for text in texts {
            assert!(self.body.contains(text), "{text:?} not in {}", self.body);
        }
    }

    /// The value of the first `name="csrf"` hidden field.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a form with a CSRF token");
        let rest = &self.body[at + 19..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

impl Console {
    pub fn new(root: &str) -> Self {
        Self {
            root: root.to_string(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
            set_cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, response: reqwest::Response) -> Page {
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap().to_string();
            let pair = text.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
            self.set_cookies.push(text);
        }
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string());
        Page {
            status,
            location,
            body: response.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.root))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(response).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.root))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.finish(response).await
    }

    /// Signs in; returns the login POST's answer.
    pub async fn login(&mut self, name: &str, password: &str) -> Page {
        let form = self.get("/admin/login").await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = form.csrf();
        self.post(
            "/admin/login",
            &[("csrf", &csrf), ("name", name), ("password", password)],
        )
        .await
    }

    /// Signs in and returns the CSRF token of the session's forms.
    pub async fn signed_in(root: &str, name: &str) -> (Console, String) {
        let mut console = Console::new(root);
        let answer = console.login(name, PASSWORD).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let overview = console.get("/admin/").await;
        assert_eq!(overview.status, StatusCode::OK, "{}", overview.body);
        let csrf = overview.csrf();
        (console, csrf)
    }
}
