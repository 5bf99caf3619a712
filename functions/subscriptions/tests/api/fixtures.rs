//! The `events/subscriptions/*.json` fixtures (also used with `sam local invoke`) run through the handler.

use crate::support::*;

const CREATE: &str = include_str!("../../../../events/subscriptions/create.json");
const LIST: &str = include_str!("../../../../events/subscriptions/list.json");

#[tokio::test]
async fn the_create_and_list_fixtures_run() {
    let handler = handler();
    let request = lambda_http::request::from_str(CREATE).expect("create fixture parses");
    let created = Answer::from(handler.handle(request).await);
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert!(created.body["secret"].as_str().is_some_and(|s| s.starts_with("whsec_")));

    let request = lambda_http::request::from_str(LIST).expect("list fixture parses");
    let listed = Answer::from(handler.handle(request).await);
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let items = listed.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], created.body["id"]);
    assert!(items[0].get("secret").is_none());
}
