//! The lambda_http adapter: API Gateway HTTP API request in, response out.

use lambda_http::{Body, Request, Response};

use crate::ingress::Ingress;

pub fn body_bytes(body: &Body) -> &[u8] {
    match body {
        Body::Empty => b"",
        Body::Text(t) => t.as_bytes(),
        // lambda_http has already base64-decoded a body sent with isBase64Encoded.
        Body::Binary(b) => b,
        _ => b"",
    }
}

pub async fn handle_request(ingress: &Ingress, req: Request) -> Response<Body> {
    let answer = ingress
        .handle(
            req.method().as_str(),
            req.uri().path(),
            req.uri().query().unwrap_or(""),
            req.headers(),
            body_bytes(req.body()),
        )
        .await;
    let mut resp = Response::builder()
        .status(answer.status)
        .header("content-type", answer.content_type);
    if let Some(secs) = answer.retry_after_secs {
        resp = resp.header("retry-after", secs.to_string());
    }
    resp.body(Body::Text(answer.body))
        .expect("status and headers are valid")
}
