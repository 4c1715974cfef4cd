// A card's comment thread: threads oldest first, one level of replies, markdown rendered
// safely; add a comment, reply to one. [data-testid=comment][data-comment-id].

import { create } from "@bufbuild/protobuf";
import { CommentSchema, type Comment, type CommentThread } from "../gen/pm/v1/entities_pb";
import type { Users } from "../model/users";
import { h, replaceChildren } from "../util/dom";
import { dateTime } from "../util/format";
import { renderMarkdown } from "./markdown";

export interface PendingComment {
  id: string;
  content: string;
  parentId: string;
}

export interface CommentHooks {
  users: Users;
  add(content: string, parentId: string): void;
}

function commentNode(comment: Comment, hooks: CommentHooks, isReply: boolean, pending = false): HTMLElement {
  const body = h("div", { class: "comment-body", data: { testid: "comment-body" } });
  if (comment.deleted) body.appendChild(h("em", { class: "muted", text: "deleted" }));
  else body.appendChild(renderMarkdown(comment.content));
  const node = h(
    "div",
    {
      class: "comment" + (isReply ? " reply" : "") + (pending ? " pending" : ""),
      data: {
        testid: "comment",
        commentId: comment.id,
        parentId: comment.parentCommentId || null,
        deleted: comment.deleted,
        pending,
      },
    },
    h(
      "div",
      { class: "comment-head" },
      h("span", { class: "comment-author", text: hooks.users.name(comment.authorId) || "you" }),
      h("span", { class: "comment-time", text: pending ? "sending…" : dateTime(comment.createdAtMs) }),
    ),
    body,
  );
  if (!pending && !comment.deleted) {
    const replyTo = comment.parentCommentId || comment.id;
    const text = h("textarea", { attrs: { name: "reply", rows: 2, placeholder: "Reply…", "aria-label": "Reply", maxlength: 65536 } });
    const form = h(
      "form",
      {
        class: "reply-form",
        hidden: true,
        data: { testid: "reply-form" },
        on: {
          submit: (event) => {
            event.preventDefault();
            const content = text.value;
            if (!content.trim()) return;
            text.value = "";
            form.hidden = true;
            hooks.add(content, replyTo);
          },
        },
      },
      text,
      h("button", { text: "Reply", attrs: { type: "submit" }, data: { testid: "reply-submit" } }),
    );
    node.append(
      h("button", {
        text: "Reply",
        class: "link",
        attrs: { type: "button" },
        data: { testid: "comment-reply" },
        on: {
          click: () => {
            form.hidden = !form.hidden;
            if (!form.hidden) text.focus();
          },
        },
      }),
      form,
    );
  }
  return node;
}

export function renderThreads(
  root: HTMLElement,
  threads: readonly CommentThread[],
  pending: readonly PendingComment[],
  hooks: CommentHooks,
  me: string,
): void {
  const asComment = (p: PendingComment): Comment =>
    create(CommentSchema, { id: p.id, content: p.content, parentCommentId: p.parentId, authorId: me });
  const nodes: HTMLElement[] = [];
  const known = new Set<string>();
  for (const thread of threads) {
    if (!thread.comment) continue;
    known.add(thread.comment.id);
    thread.replies.forEach((r) => known.add(r.id));
    const node = h("div", { class: "thread", data: { testid: "thread" } }, commentNode(thread.comment, hooks, false));
    for (const reply of thread.replies) node.appendChild(commentNode(reply, hooks, true));
    for (const p of pending) {
      if (p.parentId === thread.comment.id && !known.has(p.id)) node.appendChild(commentNode(asComment(p), hooks, true, true));
    }
    nodes.push(node);
  }
  for (const p of pending) {
    if (!p.parentId && !known.has(p.id)) nodes.push(h("div", { class: "thread" }, commentNode(asComment(p), hooks, false, true)));
  }
  if (nodes.length === 0) nodes.push(h("p", { class: "muted", text: "No comments yet." }));
  replaceChildren(root, ...nodes);
}

export function commentForm(onAdd: (content: string) => void): HTMLFormElement {
  const text = h("textarea", {
    attrs: { name: "comment", rows: 3, placeholder: "Add a comment (markdown: **bold**, *italic*, `code`, [link](https://…))", "aria-label": "Comment", maxlength: 65536 },
  });
  return h(
    "form",
    {
      class: "comment-form",
      data: { testid: "comment-form" },
      on: {
        submit: (event) => {
          event.preventDefault();
          const content = text.value;
          if (!content.trim()) return;
          text.value = "";
          onAdd(content);
        },
      },
    },
    text,
    h("button", { text: "Comment", attrs: { type: "submit" }, data: { testid: "comment-submit" } }),
  );
}
