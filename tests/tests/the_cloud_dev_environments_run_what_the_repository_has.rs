//! The cloud dev environments (`.gitpod.yml`, `.devcontainer/devcontainer.json`) run what
//! the repository has: every command they run is an executable script of the repository
//! or a tool named here, and both run the one setup script and start `scripts/run-local`;
//! the ports they declare are the ones `scripts/run-local` serves (read from the script),
//! none public, the X-Ray daemon's UDP port kept local; and no secret value is written in
//! them, only references to the user's own variables.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use anyhow::{anyhow, bail, Context as _};
use cruddur_tests::function::workspace_root;
use serde_json::{json, Value};

/// Programs the environments may run that are not scripts of the repository, and why.
/// Anything else belongs in `scripts/setup-dev`, the one setup script.
const KNOWN_TOOLS: &[(&str, &str)] = &[("cargo", "the Rust toolchain of both base images")];

/// The scripts both environments must run.
const SETUP_SCRIPT: &str = "scripts/setup-dev";
const RUN_SCRIPT: &str = "scripts/run-local";

/// Parts of a variable name that make its value a secret (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
/// and AWS_SESSION_TOKEN among them).
const SECRET_WORDS: &[&str] = &["KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL"];

/// The devcontainer.json properties that run commands.
const LIFECYCLE_COMMANDS: &[&str] = &[
    "initializeCommand",
    "onCreateCommand",
    "updateContentCommand",
    "postCreateCommand",
    "postStartCommand",
    "postAttachCommand",
];

/// One environment file: its text (comments included) and its parsed content.
struct EnvFile {
    name: &'static str,
    text: String,
    doc: Value,
}

fn gitpod() -> anyhow::Result<EnvFile> {
    let name = ".gitpod.yml";
    let text = fs::read_to_string(workspace_root().join(name)).with_context(|| format!("reading {name}"))?;
    let doc = serde_yaml::from_str(&text).with_context(|| format!("{name} is not YAML"))?;
    Ok(EnvFile { name, text, doc })
}

fn devcontainer() -> anyhow::Result<EnvFile> {
    let name = ".devcontainer/devcontainer.json";
    let text = fs::read_to_string(workspace_root().join(name)).with_context(|| format!("reading {name}"))?;
    let doc = serde_json::from_str(&strip_jsonc(&text)).with_context(|| format!("{name} is not JSON(C)"))?;
    Ok(EnvFile { name, text, doc })
}

fn run_local() -> anyhow::Result<String> {
    fs::read_to_string(workspace_root().join(RUN_SCRIPT)).context("reading scripts/run-local")
}

fn assert_none(problems: Vec<String>) {
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn every_command_they_run_is_in_the_repository() -> anyhow::Result<()> {
    assert_none(command_problems(&gitpod()?, &workspace_root())?);
    assert_none(command_problems(&devcontainer()?, &workspace_root())?);
    Ok(())
}

#[test]
fn their_ports_are_the_ones_run_local_serves() -> anyhow::Result<()> {
    let served = served_ports(&run_local()?)?;
    assert_none(port_problems(&gitpod()?, &served));
    assert_none(port_problems(&devcontainer()?, &served));
    Ok(())
}

#[test]
fn no_secret_value_is_written_in_them() -> anyhow::Result<()> {
    assert_none(secret_problems(&gitpod()?));
    assert_none(secret_problems(&devcontainer()?));
    Ok(())
}

#[test]
fn a_command_the_repository_does_not_have_is_caught() -> anyhow::Result<()> {
    let root = workspace_root();
    for (command, expected) in [
        ("scripts/no-such-script", "scripts/no-such-script does not exist"),
        ("./README.md", "README.md is not executable"),
        ("sudo apt-get install -y postgresql", "`sudo` is not a script"),
        ("cargo build && npm ci", "`npm` is not a script"),
        (
            "cargo run --manifest-path tools/nothing/Cargo.toml",
            "tools/nothing/Cargo.toml",
        ),
    ] {
        let mut file = gitpod()?;
        file.doc["tasks"][0]["init"] = json!(command);
        let problems = command_problems(&file, &root)?;
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{command}: {problems:?}"
        );

        let mut file = devcontainer()?;
        file.doc["updateContentCommand"] = json!({ "build": command });
        let problems = command_problems(&file, &root)?;
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{command}: {problems:?}"
        );
    }
    let mut file = devcontainer()?;
    file.doc["postAttachCommand"] = json!(["cargo", "test"]);
    let problems = command_problems(&file, &root)?;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("never runs scripts/run-local")),
        "{problems:?}"
    );
    Ok(())
}

#[test]
fn a_port_added_to_either_file_is_caught() -> anyhow::Result<()> {
    let served = served_ports(&run_local()?)?;

    let mut file = gitpod()?;
    file.doc["ports"]
        .as_array_mut()
        .ok_or_else(|| anyhow!("no ports"))?
        .push(json!({ "port": 8080, "onOpen": "ignore" }));
    let problems = port_problems(&file, &served);
    assert!(problems.iter().any(|p| p.contains("8080")), "{problems:?}");

    let mut file = gitpod()?;
    file.doc["ports"][0]["visibility"] = json!("public");
    let problems = port_problems(&file, &served);
    assert!(problems.iter().any(|p| p.contains("public")), "{problems:?}");

    let mut file = devcontainer()?;
    file.doc["forwardPorts"]
        .as_array_mut()
        .ok_or_else(|| anyhow!("no forwardPorts"))?
        .push(json!(5432));
    let problems = port_problems(&file, &served);
    assert!(problems.iter().any(|p| p.contains("5432")), "{problems:?}");

    let mut file = devcontainer()?;
    file.doc["portsAttributes"]["3000"] = json!({ "label": "something else" });
    let problems = port_problems(&file, &served);
    assert!(problems.iter().any(|p| p.contains("3000")), "{problems:?}");

    // A port moved in scripts/run-local is a port the files no longer match.
    let moved = served_ports(&run_local()?.replace("${PORT:-", "${PORT:-1"))?;
    assert!(!port_problems(&gitpod()?, &moved).is_empty());
    assert!(!port_problems(&devcontainer()?, &moved).is_empty());
    Ok(())
}

#[test]
fn a_secret_value_written_in_either_file_is_caught() -> anyhow::Result<()> {
    let key = "hcaik_01hq5ample0fakevalue0nothing";
    let mut cases: Vec<(&str, EnvFile)> = Vec::new();

    let mut file = devcontainer()?;
    file.doc["remoteEnv"]["HONEYCOMB_API_KEY"] = json!(key);
    cases.push(("remoteEnv.HONEYCOMB_API_KEY", file));
    let mut file = devcontainer()?;
    file.doc["containerEnv"] = json!({ "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" });
    cases.push(("containerEnv.AWS_SECRET_ACCESS_KEY", file));
    let mut file = devcontainer()?;
    file.doc["remoteEnv"]["AWS_SESSION_TOKEN"] = json!("${localEnv:AWS_SESSION_TOKEN:FwoGZXIvYXdz}");
    cases.push(("remoteEnv.AWS_SESSION_TOKEN", file));
    let mut file = devcontainer()?;
    file.text
        .push_str("\n// \"HONEYCOMB_API_KEY\": \"hcaik_01hq5ample0fakevalue0nothing\"\n");
    cases.push(("HONEYCOMB_API_KEY", file));

    let mut file = gitpod()?;
    file.doc["tasks"][0]["env"] = json!({ "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE" });
    cases.push(("tasks[0].env.AWS_ACCESS_KEY_ID", file));
    let mut file = gitpod()?;
    file.doc["tasks"][0]["command"] = json!(format!("HONEYCOMB_API_KEY={key} scripts/run-local"));
    cases.push(("HONEYCOMB_API_KEY", file));
    let mut file = gitpod()?;
    file.doc["tasks"][0]["command"] = json!("export DATABASE_PASSWORD=cruddur; scripts/run-local");
    cases.push(("DATABASE_PASSWORD", file));
    let mut file = gitpod()?;
    file.doc["tasks"][0]["env"] = json!({ "DATABASE_URL": "postgresql://cruddur:cruddur@127.0.0.1/cruddur" });
    cases.push(("a password in a URL", file));
    let mut file = gitpod()?;
    file.text
        .push_str("\n# gp env AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n");
    cases.push(("an AWS access key id", file));

    for (expected, file) in cases {
        let problems = secret_problems(&file);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{}: {expected} not caught: {problems:?}",
            file.name
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Commands

/// Every simple command an environment file runs, with where it is written.
fn commands(file: &EnvFile) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let mut found = Vec::new();
    let shell = |place: &str, script: &str| -> Vec<(String, Vec<String>)> {
        simple_commands(script)
            .into_iter()
            .map(|command| (place.to_owned(), command))
            .collect()
    };
    if file.name.ends_with(".yml") {
        for (i, task) in file.doc["tasks"].as_array().into_iter().flatten().enumerate() {
            for (key, value) in task.as_object().into_iter().flatten() {
                if matches!(key.as_str(), "before" | "init" | "command" | "prebuild") {
                    let script = value
                        .as_str()
                        .ok_or_else(|| anyhow!("{}: tasks[{i}].{key} is not a string", file.name))?;
                    found.extend(shell(&format!("tasks[{i}].{key}"), script));
                }
            }
        }
        return Ok(found);
    }
    for key in LIFECYCLE_COMMANDS {
        let parallel: Vec<(String, &Value)> = match &file.doc[*key] {
            Value::Null => continue,
            Value::Object(commands) => commands
                .iter()
                .map(|(name, c)| (format!("{key}.{name}"), c))
                .collect(),
            command => vec![(key.to_string(), command)],
        };
        for (place, command) in parallel {
            match command {
                Value::String(script) => found.extend(shell(&place, script)),
                Value::Array(argv) => {
                    let words = argv
                        .iter()
                        .map(|word| word.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| anyhow!("{}: {place} has a word that is not a string", file.name))?;
                    found.push((place, words));
                }
                other => bail!(
                    "{}: {place} is neither a command line nor words: {other}",
                    file.name
                ),
            }
        }
    }
    Ok(found)
}

fn command_problems(file: &EnvFile, root: &Path) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut programs = BTreeSet::new();
    let found = commands(file)?;
    if found.is_empty() {
        problems.push(format!("{}: runs no command", file.name));
    }
    for (place, words) in &found {
        let program = words[0].strip_prefix("./").unwrap_or(&words[0]);
        programs.insert(program.to_owned());
        let at = format!("{} {place}", file.name);
        if words[0].contains('/') {
            match repository_path(root, program) {
                Err(problem) => problems.push(format!("{at}: {problem}")),
                Ok(path) if !path.is_file() => problems.push(format!("{at}: {program} is not a file")),
                Ok(path) if fs::metadata(&path)?.permissions().mode() & 0o111 == 0 => {
                    problems.push(format!("{at}: {program} is not executable"))
                }
                Ok(_) => {}
            }
        } else if !KNOWN_TOOLS.iter().any(|(tool, _)| *tool == program) {
            problems.push(format!(
                "{at}: `{program}` is not a script of the repository nor a known tool \
                 (install things in {SETUP_SCRIPT}; or name the tool in KNOWN_TOOLS)"
            ));
        }
        for word in &words[1..] {
            let looks_like_path = word.contains('/')
                && !word.starts_with(['-', '$', '/'])
                && !word.contains("://")
                && !word.contains('=');
            if looks_like_path {
                if let Err(problem) = repository_path(root, word) {
                    problems.push(format!("{at}: {problem}"));
                }
            }
        }
    }
    for script in [SETUP_SCRIPT, RUN_SCRIPT] {
        if !programs.contains(script) {
            problems.push(format!("{}: never runs {script}", file.name));
        }
    }
    Ok(problems)
}

/// A relative path inside the repository that exists.
fn repository_path(root: &Path, path: &str) -> Result<std::path::PathBuf, String> {
    if path.starts_with('/') || path.split('/').any(|part| part == "..") {
        return Err(format!("{path} is outside the repository"));
    }
    let full = root.join(path.strip_prefix("./").unwrap_or(path));
    if full.exists() {
        Ok(full)
    } else {
        Err(format!("{path} does not exist in the repository"))
    }
}

/// The simple commands of a shell script: the words between `;`, `&&`, `||`, `|`, `&`,
/// parentheses and line ends, quotes removed, comments skipped, leading `NAME=value`
/// assignments dropped.
fn simple_commands(script: &str) -> Vec<Vec<String>> {
    fn end_word(word: &mut String, in_word: &mut bool, words: &mut Vec<String>) {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    }
    fn end_command(words: &mut Vec<String>, commands: &mut Vec<Vec<String>>) {
        let first = words
            .iter()
            .position(|w| !is_assignment(w))
            .unwrap_or(words.len());
        let command: Vec<String> = words.drain(..).skip(first).collect();
        if !command.is_empty() {
            commands.push(command);
        }
    }
    let (mut commands, mut words, mut word, mut in_word) = (Vec::new(), Vec::new(), String::new(), false);
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                word.extend(chars.by_ref().take_while(|&q| q != '\''));
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        q => word.push(q),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') | None => {}
                Some(escaped) => {
                    in_word = true;
                    word.push(escaped);
                }
            },
            '#' if !in_word => while chars.next_if(|&n| n != '\n').is_some() {},
            '\n' | ';' | '&' | '|' | '(' | ')' => {
                end_word(&mut word, &mut in_word, &mut words);
                end_command(&mut words, &mut commands);
            }
            c if c.is_whitespace() => end_word(&mut word, &mut in_word, &mut words),
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    end_word(&mut word, &mut in_word, &mut words);
    end_command(&mut words, &mut commands);
    commands
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| is_identifier(name))
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

// ---------------------------------------------------------------------------------------
// Ports

/// What `scripts/run-local` serves by default.
#[derive(Debug)]
struct Served {
    /// `cargo lambda watch --invoke-port`: the API (TCP).
    api: u16,
    /// `trace-console listen --otlp-port`: the OTLP/HTTP receiver (TCP).
    otlp: u16,
    /// `trace-console listen --xray-port`: the X-Ray daemon stand-in (UDP).
    xray_udp: u16,
}

impl Served {
    fn tcp(&self) -> BTreeSet<u16> {
        BTreeSet::from([self.api, self.otlp])
    }
}

/// Reads each port's default (`${NAME:-N}`) from the flag that `scripts/run-local` passes it
/// to, and checks that every use of the variable has the same default.
fn served_ports(script: &str) -> anyhow::Result<Served> {
    let defaults = parameter_defaults(script)?;
    let port = |flag: &str| -> anyhow::Result<u16> {
        let after = script
            .split_once(flag)
            .ok_or_else(|| anyhow!("scripts/run-local passes no {flag}: update this test"))?
            .1;
        let word = after
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .trim_matches('"');
        let name = word
            .strip_prefix("${")
            .and_then(|w| w.split_once(":-"))
            .map(|(name, _)| name)
            .ok_or_else(|| anyhow!("scripts/run-local: {flag} {word} is not ${{NAME:-port}}"))?;
        defaults[name]
            .parse()
            .with_context(|| format!("scripts/run-local: {name}'s default is not a port"))
    };
    Ok(Served {
        api: port("--invoke-port")?,
        otlp: port("--otlp-port")?,
        xray_udp: port("--xray-port")?,
    })
}

/// Every `${NAME:-default}` of a script; a variable given two defaults is an error.
fn parameter_defaults(script: &str) -> anyhow::Result<BTreeMap<&str, &str>> {
    let mut defaults = BTreeMap::new();
    for piece in script.split("${").skip(1) {
        let Some((name, rest)) = piece.split_once(":-") else {
            continue;
        };
        if !is_identifier(name) {
            continue;
        }
        let value = rest.split('}').next().unwrap_or_default();
        if let Some(other) = defaults.insert(name, value) {
            if other != value {
                bail!("scripts/run-local gives {name} two defaults: {other} and {value}");
            }
        }
    }
    Ok(defaults)
}

fn port_problems(file: &EnvFile, served: &Served) -> Vec<String> {
    let mut problems = Vec::new();
    let name = file.name;
    let (declared, attributes): (Vec<&Value>, BTreeMap<String, &Value>) = if name.ends_with(".yml") {
        let ports: Vec<&Value> = file.doc["ports"].as_array().into_iter().flatten().collect();
        let attributes = ports.iter().map(|p| (p["port"].to_string(), *p)).collect();
        (ports.iter().map(|p| &p["port"]).collect(), attributes)
    } else {
        let attributes = file.doc["portsAttributes"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(port, a)| (port.clone(), a))
            .collect();
        (
            file.doc["forwardPorts"]
                .as_array()
                .into_iter()
                .flatten()
                .collect(),
            attributes,
        )
    };

    let mut ports = BTreeSet::new();
    for port in declared {
        match port.as_u64().and_then(|p| u16::try_from(p).ok()) {
            Some(port) => {
                ports.insert(port);
            }
            None => problems.push(format!("{name}: port {port} is not one port of this machine")),
        }
    }
    let served_tcp = served.tcp();
    for extra in ports.difference(&served_tcp) {
        problems.push(format!(
            "{name}: port {extra} is declared but scripts/run-local does not serve it"
        ));
    }
    for missing in served_tcp.difference(&ports) {
        problems.push(format!(
            "{name}: port {missing} is served by scripts/run-local but not declared"
        ));
    }

    let known: BTreeSet<String> = [served.api, served.otlp, served.xray_udp]
        .iter()
        .map(u16::to_string)
        .collect();
    for (port, attributes) in &attributes {
        if !known.contains(port) {
            problems.push(format!(
                "{name}: port {port} has attributes but scripts/run-local does not serve it"
            ));
        }
        if attributes["label"].is_null() && attributes["name"].is_null() {
            problems.push(format!("{name}: port {port} has no name"));
        }
    }
    if name.ends_with(".yml") {
        // Gitpod's default is private already; the API says so in so many words.
        let api = attributes.get(&served.api.to_string());
        if api.is_none_or(|a| a["visibility"].as_str() != Some("private")) {
            problems.push(format!(
                "{name}: the API port {} is not `visibility: private`",
                served.api
            ));
        }
    } else if let Some(xray) = attributes.get(&served.xray_udp.to_string()) {
        if xray["onAutoForward"].as_str() != Some("ignore") {
            problems.push(format!(
                "{name}: UDP port {} may be auto-forwarded",
                served.xray_udp
            ));
        }
    }
    walk(&file.doc, "", &mut |path, key, value| {
        if key == "visibility" && value.as_str() != Some("private") {
            problems.push(format!("{name}: {path} is {value}: ports stay private"));
        }
    });
    if ports.contains(&served.xray_udp) {
        problems.push(format!(
            "{name}: {} is the X-Ray daemon's UDP port: it cannot be forwarded (TCP only)",
            served.xray_udp
        ));
    }
    if !file.text.contains(&format!("UDP {}", served.xray_udp)) {
        problems.push(format!(
            "{name}: does not say that UDP {} (the X-Ray daemon stand-in) stays local",
            served.xray_udp
        ));
    }
    problems
}

// ---------------------------------------------------------------------------------------
// Secrets

fn secret_problems(file: &EnvFile) -> Vec<String> {
    let name = file.name;
    let mut problems = Vec::new();
    // Keys of the parsed file (any case: `password: x` too) whose value is written out.
    walk(&file.doc, "", &mut |path, key, value| {
        let scalar = match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(_) | Value::Bool(_) => Some(value.to_string()),
            _ => None,
        };
        if let Some(scalar) = scalar {
            if is_identifier(key) && is_secret_name(&key.to_ascii_uppercase()) && !is_reference(&scalar) {
                problems.push(format!(
                    "{name}: {path} is written as a value: refer to the user's variable instead"
                ));
            }
        }
    });
    // Every string of the file and its whole text, comments included.
    let mut texts = vec![file.text.clone()];
    walk(&file.doc, "", &mut |_, _, value| {
        if let Value::String(s) = value {
            texts.push(s.clone());
        }
    });
    for text in &texts {
        for (variable, value) in assignments(text) {
            if is_secret_name(variable) && !is_reference(value) {
                problems.push(format!("{name}: a value is written for {variable}"));
            }
        }
        if has_aws_access_key_id(text) {
            problems.push(format!("{name}: holds an AWS access key id"));
        }
        if has_url_password(text) {
            problems.push(format!("{name}: holds a password in a URL"));
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

fn is_secret_name(upper: &str) -> bool {
    SECRET_WORDS.iter().any(|word| upper.contains(word))
}

/// `$NAME`, `${NAME}`, `${localEnv:NAME}` or `${containerEnv:NAME}`, quoted or not, with no
/// default value.
fn is_reference(value: &str) -> bool {
    let value = value.trim().trim_matches(['"', '\'']);
    let inner = value
        .strip_prefix("${")
        .and_then(|v| v.strip_suffix('}'))
        .map(|v| {
            v.strip_prefix("localEnv:")
                .or_else(|| v.strip_prefix("containerEnv:"))
                .unwrap_or(v)
        })
        .or_else(|| value.strip_prefix('$'));
    inner.is_some_and(is_identifier)
}

/// `NAME=value`, `NAME: value` and `"NAME": "value"` in free text, for upper-case names
/// (environment variables); a name followed by a mapping, a list or nothing is skipped.
fn assignments(text: &str) -> Vec<(&str, &str)> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let is_name_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if !is_name_byte(bytes[i]) || (i > 0 && is_name_byte(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_name_byte(bytes[i]) {
            i += 1;
        }
        let variable = &text[start..i];
        if !variable
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            continue;
        }
        let mut j = i;
        if j < bytes.len() && matches!(bytes[j], b'"' | b'\'') {
            j += 1;
        }
        while j < bytes.len() && matches!(bytes[j], b' ' | b'\t') {
            j += 1;
        }
        if j >= bytes.len() || !matches!(bytes[j], b'=' | b':') {
            continue;
        }
        j += 1;
        while j < bytes.len() && matches!(bytes[j], b' ' | b'\t') {
            j += 1;
        }
        let rest = &text[j..];
        let value = match rest.chars().next() {
            None | Some('\n' | '\r' | '{' | '[') => continue,
            Some(quote @ ('"' | '\'')) => rest[1..].split(quote).next().unwrap_or_default(),
            Some(_) => rest
                .split([' ', '\t', '\n', '\r', ',', ';'])
                .next()
                .unwrap_or_default(),
        };
        if !value.is_empty() {
            found.push((variable, value));
        }
    }
    found
}

/// An AWS access key id: AKIA or ASIA and 16 upper-case letters or digits.
fn has_aws_access_key_id(text: &str) -> bool {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(19)).any(|i| {
        (bytes[i..].starts_with(b"AKIA") || bytes[i..].starts_with(b"ASIA"))
            && bytes[i + 4..i + 20]
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    })
}

/// `scheme://user:password@host`.
fn has_url_password(text: &str) -> bool {
    text.split("://").skip(1).any(|after| {
        let authority = after
            .split(['/', ' ', '\t', '\n', '"', '\'', '?', '#'])
            .next()
            .unwrap_or_default();
        authority
            .split_once('@')
            .is_some_and(|(user_info, _)| user_info.contains(':'))
    })
}

// ---------------------------------------------------------------------------------------
// Reading

/// Calls `f(path, key, value)` for every object entry of a document, depth first.
fn walk(value: &Value, path: &str, f: &mut dyn FnMut(&str, &str, &Value)) {
    match value {
        Value::Object(entries) => {
            for (key, child) in entries {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                f(&child_path, key, child);
                walk(child, &child_path, f);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                walk(child, &format!("{path}[{i}]"), f);
            }
        }
        _ => {}
    }
}

/// JSON with comments (`//`, `/* */`) and trailing commas, as devcontainer.json allows,
/// made plain JSON.
fn strip_jsonc(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            plain.push(c);
            match c {
                '\\' => plain.extend(chars.next()),
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                plain.push(c);
            }
            ('/', Some('/')) => while chars.next_if(|&n| n != '\n').is_some() {},
            ('/', Some('*')) => {
                chars.next();
                let mut previous = ' ';
                for n in chars.by_ref() {
                    if previous == '*' && n == '/' {
                        break;
                    }
                    previous = n;
                }
                plain.push(' ');
            }
            _ => plain.push(c),
        }
    }
    // Trailing commas: a comma whose next non-space character closes an object or array.
    let chars: Vec<char> = plain.chars().collect();
    let mut json = String::with_capacity(plain.len());
    let mut in_string = false;
    let mut escaped = false;
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            in_string = escaped || c != '"';
            escaped = !escaped && c == '\\';
        } else if c == '"' {
            in_string = true;
        } else if c == ',' {
            let next = chars[i + 1..].iter().find(|n| !n.is_whitespace());
            if matches!(next, Some('}' | ']')) {
                continue;
            }
        }
        json.push(c);
    }
    json
}

#[test]
fn jsonc_and_shell_are_read_as_the_tools_read_them() -> anyhow::Result<()> {
    let jsonc = "// a comment\n{ \"a\": \"x // not a comment\", /* b */ \"b\": [1, 2,], \"c\": \"\\\"\",\n}";
    let plain: Value = serde_json::from_str(&strip_jsonc(jsonc))?;
    assert_eq!(
        plain,
        json!({ "a": "x // not a comment", "b": [1, 2], "c": "\"" })
    );

    assert_eq!(
        simple_commands("A=1 scripts/x 'a b' && cargo build # c\n# d\n(echo \"q;r\"|tee f) ; \\\n  last"),
        vec![
            vec!["scripts/x", "a b"],
            vec!["cargo", "build"],
            vec!["echo", "q;r"],
            vec!["tee", "f"],
            vec!["last"],
        ]
    );
    assert!(is_reference("${localEnv:HONEYCOMB_API_KEY}") && is_reference("\"$AWS_SESSION_TOKEN\""));
    assert!(!is_reference("${localEnv:HONEYCOMB_API_KEY:abc}") && !is_reference("abc"));
    assert_eq!(
        assignments("X_KEY=a \"Y_TOKEN\": \"b c\" Z_SECRET:\n  d lower_key: e"),
        vec![("X_KEY", "a"), ("Y_TOKEN", "b c")]
    );
    Ok(())
}
