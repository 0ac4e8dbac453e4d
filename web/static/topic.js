// Opening a topic page is a durable TopicOpened event (once per page view).
import { send } from "./api.js";

const topic = document.querySelector("#topic");
if (topic) send("TopicOpened", { topic_id: topic.dataset.topicId }).catch(() => {});
