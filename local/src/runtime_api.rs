//! Lambda's Runtime API for one function process, as Lambda serves it to a custom runtime
//! (`provided.al2023`): the real `bootstrap` is started with `AWS_LAMBDA_RUNTIME_API` pointing
//! here, asks `GET /2018-06-01/runtime/invocation/next` for an event, and posts its answer to
//! `…/invocation/{id}/response` (or `…/error`; `…/init/error` when it cannot start).
//!
//! What it is for: cold start as Lambda sees it (process start → first invocation answered, and
//! within it the init Lambda reports as "Init Duration": process start → first `…/next`),
//! peak memory of a real function process, and the `events/` fixtures through the real binaries.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

const RUNTIME: &str = "/2018-06-01/runtime";

/// What the function answered one invocation.
#[derive(Debug, Clone)]
pub enum Answer {
    /// `…/response`: the handler's result.
    Response(Bytes),
    /// `…/error` or `…/init/error`: Lambda's `{"errorType", "errorMessage"}` body.
    Error(Bytes),
}

impl Answer {
    /// The response as JSON, or the error the function reported.
    pub fn json(&self) -> Result<serde_json::Value> {
        match self {
            Answer::Response(b) => {
                serde_json::from_slice(b).context("the function's response is not JSON")
            }
            Answer::Error(b) => bail!(
                "the function reported an error: {}",
                String::from_utf8_lossy(b)
            ),
        }
    }
}

struct Invocation {
    id: String,
    event: Bytes,
    deadline_ms: i64,
}

struct Shared {
    function_arn: String,
    next: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    init_error: Mutex<Option<Bytes>>,
    /// When the function first asked for an event: its init was over.
    first_next: Mutex<Option<Instant>>,
}

/// One function's Runtime API on 127.0.0.1, a free port.
pub struct RuntimeApi {
    /// `host:port`, as `AWS_LAMBDA_RUNTIME_API` carries it.
    pub address: String,
    queue: mpsc::UnboundedSender<Invocation>,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RuntimeApi {
    pub async fn start(function_name: &str) -> Result<Self> {
        let (queue, next) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            function_arn: format!(
                "arn:aws:lambda:{}:{}:function:{function_name}",
                super::template::REGION,
                super::template::ACCOUNT_ID
            ),
            next: tokio::sync::Mutex::new(next),
            waiting: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
            first_next: Mutex::new(None),
        });
        let app = Router::new()
            .route(&format!("{RUNTIME}/invocation/next"), get(next_invocation))
            .route(
                &format!("{RUNTIME}/invocation/{{id}}/response"),
                post(response),
            )
            .route(&format!("{RUNTIME}/invocation/{{id}}/error"), post(error))
            .route(&format!("{RUNTIME}/init/error"), post(init_error))
            .with_state(shared.clone());
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?.to_string();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            address,
            queue,
            shared,
            task,
        })
    }

    /// Queues `event` for the function's next `…/invocation/next`; the receiver yields its
    /// answer. Queued before the process starts, it is the first thing the process is given.
    pub fn queue(&self, event: &[u8], timeout: Duration) -> oneshot::Receiver<Answer> {
        let id = format!("{:032x}", rand::random::<u128>());
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.shared.waiting.lock() {
            w.insert(id.clone(), tx);
        }
        let deadline_ms = leadsync::domain::clock::now_ms() + timeout.as_millis() as i64;
        let _ = self.queue.send(Invocation {
            id,
            event: Bytes::copy_from_slice(event),
            deadline_ms,
        });
        rx
    }

    /// What the function posted to `…/init/error`, if it failed to start.
    pub fn init_error(&self) -> Option<String> {
        self.shared
            .init_error
            .lock()
            .ok()
            .and_then(|e| e.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()))
    }
}

async fn next_invocation(State(st): State<Arc<Shared>>) -> Response {
    if let Ok(mut first) = st.first_next.lock() {
        first.get_or_insert_with(Instant::now);
    }
    let Some(inv) = st.next.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", inv.id);
    set("lambda-runtime-deadline-ms", inv.deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        st.function_arn.clone(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
    );
    set("content-type", "application/json".into());
    (StatusCode::OK, headers, inv.event).into_response()
}

fn answer(st: &Shared, id: &str, answer: Answer) -> StatusCode {
    let waiting = st.waiting.lock().ok().and_then(|mut w| w.remove(id));
    match waiting {
        Some(tx) => {
            let _ = tx.send(answer);
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn response(
    State(st): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    answer(&st, &id, Answer::Response(body))
}

async fn error(State(st): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&st, &id, Answer::Error(body))
}

async fn init_error(State(st): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    if let Ok(mut e) = st.init_error.lock() {
        *e = Some(body.clone());
    }
    // Every invocation waiting gets the init error: the function will not answer them.
    let waiting: Vec<_> = st
        .waiting
        .lock()
        .map(|mut w| w.drain().collect())
        .unwrap_or_default();
    for (_, tx) in waiting {
        let _ = tx.send(Answer::Error(body.clone()));
    }
    StatusCode::ACCEPTED
}

/// How to start one function process.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub binary: PathBuf,
    pub name: String,
    /// The function's own variables (template Globals + its Environment, locally the stack's).
    pub environment: Vec<(String, String)>,
    /// The longest any one invocation may take.
    pub timeout: Duration,
}

/// A real function binary running against its own [`RuntimeApi`], with Lambda's variables and
/// nothing of this process's environment. Killed when dropped.
pub struct FunctionProcess {
    pub api: RuntimeApi,
    child: tokio::process::Child,
    spec: FunctionSpec,
    output: Arc<Mutex<Vec<u8>>>,
}

/// The first invocation of a process just started.
pub struct ColdStart {
    pub process: FunctionProcess,
    /// Process spawned → first invocation answered.
    pub elapsed: Duration,
    /// Process spawned → its first `…/invocation/next`: what Lambda reports as Init Duration.
    pub init: Duration,
    pub answer: Answer,
}

impl FunctionProcess {
    /// Starts the function with `first` already waiting, as Lambda starts an execution
    /// environment for an invocation, and times it until `first` is answered.
    pub async fn cold_start(spec: FunctionSpec, first: &[u8]) -> Result<ColdStart> {
        let api = RuntimeApi::start(&spec.name).await?;
        let pending = api.queue(first, spec.timeout);
        let started = Instant::now();
        let mut process = Self::spawn(spec, api)?;
        let answer = process.wait(pending).await?;
        let elapsed = started.elapsed();
        let first_next = process.api.shared.first_next.lock().ok().and_then(|f| *f);
        Ok(ColdStart {
            elapsed,
            init: first_next.map_or(elapsed, |at| at.duration_since(started)),
            process,
            answer,
        })
    }

    fn spawn(spec: FunctionSpec, api: RuntimeApi) -> Result<Self> {
        let mut cmd = tokio::process::Command::new(&spec.binary);
        cmd.env_clear()
            .envs(spec.environment.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_RUNTIME_API", &api.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", spec.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_REGION", super::template::REGION)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", spec.binary.display()))?;
        let output = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn AsyncRead + Unpin + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn AsyncRead + Unpin + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let output = output.clone();
            tokio::spawn(async move {
                let mut pipe = pipe;
                let mut buf = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut o) = output.lock() {
                        o.extend_from_slice(&buf[..n]);
                    }
                }
            });
        }
        Ok(Self {
            api,
            child,
            spec,
            output,
        })
    }

    /// Sends `event` and waits for the function's answer.
    pub async fn invoke(&mut self, event: &[u8]) -> Result<Answer> {
        let pending = self.api.queue(event, self.spec.timeout);
        self.wait(pending).await
    }

    async fn wait(&mut self, pending: oneshot::Receiver<Answer>) -> Result<Answer> {
        let limit = self.spec.timeout + Duration::from_secs(10);
        tokio::select! {
            answer = pending => answer.map_err(|_| anyhow!("{} dropped the invocation", self.spec.name)),
            status = self.child.wait() => Err(anyhow!(
                "{} exited ({}) before answering; its output:\n{}",
                self.spec.name,
                status.map_or_else(|e| e.to_string(), |s| s.to_string()),
                self.output()
            )),
            _ = tokio::time::sleep(limit) => Err(anyhow!(
                "{} did not answer within {limit:?}; its output:\n{}",
                self.spec.name,
                self.output()
            )),
        }
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn output(&self) -> String {
        self.output
            .lock()
            .map(|o| String::from_utf8_lossy(&o).into_owned())
            .unwrap_or_default()
    }

    /// The most memory the process has held (`VmHWM`), in bytes; `None` where /proc has no
    /// answer (not Linux, or the process is gone).
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    }

    /// Stops the process by its PID and waits for it.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

impl FunctionSpec {
    /// `binary` run as one of `stack`'s functions: the stack's variables and AWS on its moto.
    pub fn of_stack(
        stack: &super::Stack,
        binary: impl Into<PathBuf>,
        name: &str,
        timeout: Duration,
    ) -> Self {
        Self {
            binary: binary.into(),
            name: name.to_string(),
            environment: stack.function_environment(),
            timeout,
        }
    }
}

/// A committed sample event (`events/<name>`, written by `leadsync-dev events`).
pub fn fixture(name: &str) -> Result<Vec<u8>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
}

/// The status code of an API Gateway v2 response as a function returns it.
pub fn http_status(answer: &serde_json::Value) -> Option<u16> {
    answer["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
}
