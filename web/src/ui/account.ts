// Who is signed in, with which role, and sign-out ([data-testid=sign-out]).

import type { Store } from "../store";
import { h, replaceChildren } from "../util/dom";

export function mountAccount(root: HTMLElement, store: Store, signOut: () => void): void {
  const render = (): void => {
    const auth = store.auth;
    if (!auth) {
      replaceChildren(root);
      return;
    }
    const id = store.userId || auth.claims.sub;
    const name = store.users.byId.get(id)?.name || auth.claims.name || id;
    const role = store.isAdmin ? "admin" : store.roles.includes("viewer") && !store.canWrite ? "viewer" : "member";
    root.dataset.userId = id;
    root.dataset.role = role;
    replaceChildren(
      root,
      h("span", { class: "account-name", text: name, data: { testid: "account-name" } }),
      h("span", { class: "account-role", text: role }),
      h("button", { text: "Sign out", class: "secondary", attrs: { type: "button" }, data: { testid: "sign-out" }, on: { click: signOut } }),
    );
  };
  store.on("auth", render);
  store.on("users", render);
  render();
}
