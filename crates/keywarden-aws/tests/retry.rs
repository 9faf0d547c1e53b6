//! keywarden's retry policy over a real socket: a server that closes the connection after
//! reading the request, the way a dropped keep-alive connection looks to the SDK
//! (`connection closed before message completed`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use keywarden_aws::ApiCallCounter;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const LIST_USERS: &str = r#"<ListUsersResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ListUsersResult><IsTruncated>false</IsTruncated><Users><member><UserName>alice</UserName><Path>/</Path><UserId>AIDAEXAMPLE000000001</UserId><Arn>arn:aws:iam::123456789012:user/alice</Arn><CreateDate>2026-01-01T00:00:00Z</CreateDate></member></Users></ListUsersResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></ListUsersResponse>"#;

/// Reads one HTTP request (headers and a `Content-Length` body).
async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").and_then(|v| v.trim().parse::<usize>().ok()))
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = sock.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(());
        }
    }
}

/// Serves ListUsers, closing the connection unanswered for the first `drops` requests.
async fn server(drops: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                while read_request(&mut sock).await.is_some() {
                    if counter.fetch_add(1, Ordering::SeqCst) < drops {
                        return; // dropped: the connection closes with no answer
                    }
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ncontent-length: {}\r\n\r\n{LIST_USERS}",
                        LIST_USERS.len()
                    );
                    if sock.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), seen)
}

fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDTEST", "test", None, None, "test",
        )))
        .endpoint_url(endpoint)
        .build()
}

#[tokio::test]
async fn a_read_whose_connection_closed_is_retried_until_it_is_answered() {
    let (endpoint, seen) = server(2).await;
    let counter = ApiCallCounter::new();
    let clients = keywarden_aws::clients(&sdk_config(&endpoint), &counter);
    let out = clients.iam.list_users().send().await.expect("ListUsers answered on the third attempt");
    let users: Vec<&str> = out.users().iter().map(|u| u.user_name()).collect();
    assert_eq!(users, ["alice"]);
    assert_eq!(seen.load(Ordering::SeqCst), 3, "two dropped attempts and the answered one");
    assert_eq!(counter.snapshot().get("iam:ListUsers"), Some(&3), "the report counts every attempt");
}
