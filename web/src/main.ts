// The board's entry point: wires the store, the connection, the session and the views.

import { Actions } from "./actions";
import { readClaims } from "./auth/jwt";
import { TokenRefresher } from "./auth/refresh";
import { clearToken, loadProjectId, loadToken, saveProjectId, saveToken, takeDeepLink, type StoredToken, type TokenSource } from "./auth/tokenstore";
import { Rest, type SearchHit } from "./net/rest";
import { socketUrl } from "./net/paths";
import { Socket } from "./net/socket";
import { Session } from "./session";
import { Store } from "./store";
import { mountAccount } from "./ui/account";
import { Board } from "./ui/board";
import { mountConnection } from "./ui/connection";
import { Login, checkToken } from "./ui/login";
import { Panel } from "./ui/panel";
import { mountPresence } from "./ui/presence";
import { mountProjectPicker } from "./ui/projectpicker";
import { RefreshPrompt } from "./ui/refreshprompt";
import { mountSearch } from "./ui/search";
import { mountSprintBar } from "./ui/sprintbar";
import { Toasts } from "./ui/toast";
import { byId } from "./util/dom";

function main(): void {
  const store = new Store();
  const toasts = new Toasts(byId("toasts"));
  const announcer = byId("announcer");
  const announce = (message: string): void => {
    announcer.textContent = message;
  };

  // A deep link's token and project, taken from the fragment (which never reaches the server).
  const link = takeDeepLink();
  if (link.token) {
    const problem = checkToken(link.token);
    if (problem) toasts.error(`The link's token was not used: ${problem}`);
    else saveToken(link.token, "pasted");
  }
  if (link.projectId) saveProjectId(link.projectId);

  const rest = new Rest(() => store.auth?.token ?? "");
  const session = new Session(store, rest, toasts, {
    tokenExpired: () => void refresher.renew(),
    signOut: (message) => signOut(message),
  });
  const socket = new Socket({
    url: socketUrl,
    token: () => store.auth?.token ?? null,
    onWelcome: (welcome) => session.onWelcome(welcome),
    onEvent: (event) => session.onEvent(event),
    onPresence: (update) => session.onPresence(update),
    onState: (state, detail) => session.onState(state, detail),
    onClosed: (code, reason, opened) => session.onClosed(code, reason, opened),
  });
  session.socket = socket;
  const actions = new Actions(store, () => socket, toasts);
  rest.onUnauthenticated = () => {
    const claims = store.auth?.claims;
    if (claims && claims.exp * 1000 <= Date.now()) void refresher.renew();
  };

  const appRoot = byId("app");
  const login = new Login(byId("login"), (token, source) => signIn(token, source));
  const prompt = new RefreshPrompt(
    byId("refresh-prompt"),
    (token, source) => applyToken(token, source),
    () => store.auth?.claims.sub ?? "",
  );

  /** A renewed token: same user and tenant, later exp; stored, then handed to the socket. */
  async function applyToken(token: string, source: TokenSource): Promise<string> {
    const current = store.auth;
    const next = current ? checkSameUser(current, token) : "";
    if (next) return next;
    const stored = saveToken(token, source);
    if (!stored) return "That is not a token.";
    store.auth = stored;
    refresher.schedule();
    prompt.hide();
    if (socket.online) {
      const ok = await actions.refreshToken(token);
      if (!ok) return "The server did not accept that token.";
    } else {
      socket.reconnectNow();
    }
    store.emit("auth");
    return "";
  }

  function checkSameUser(current: StoredToken, token: string): string {
    const problem = checkToken(token);
    if (problem) return problem;
    const claims = readClaims(token);
    if (!claims) return "That is not a token.";
    if (claims.sub !== current.claims.sub || claims.tenantId !== current.claims.tenantId) {
      return "That token is for another user or tenant: sign out first.";
    }
    if (claims.exp <= current.claims.exp) return "That token expires no later than the current one.";
    return "";
  }

  const refresher = new TokenRefresher({
    current: () => store.auth,
    apply: async (token, source) => {
      const refusal = await applyToken(token, source);
      if (refusal) prompt.show(refusal);
    },
    ask: (reason) => prompt.show(reason),
  });

  const panel = new Panel(byId("panel"), store, actions, rest, toasts, (ids) => session.wantUsers(ids));
  const openCard = (itemId: string): void => panel.open(itemId);
  const openProject = (projectId: string): void => {
    panel.close();
    void session.openProject(projectId);
  };
  actions.onProjectCreated = (id) => openProject(id);
  new Board(byId("board"), store, actions, openCard, announce);
  mountProjectPicker(byId("project-picker"), store, actions, openProject);
  mountSprintBar(byId("sprint-bar"), store, actions);
  mountSearch(byId("search"), store, rest, (hit: SearchHit) => {
    if (store.board?.id === hit.projectId) openCard(hit.itemId);
    else {
      panel.close();
      void session.openProject(hit.projectId).then(() => openCard(hit.itemId));
    }
  });
  mountPresence(byId("presence"), store);
  mountConnection(byId("connection"), store);
  mountAccount(byId("account"), store, () => signOut(""));
  store.on("board", () => {
    const board = store.board;
    document.title = board ? `${board.project.key} · ${board.project.name} — pm` : "pm board";
  });

  function signIn(token: string, source: TokenSource): void {
    const stored = saveToken(token, source);
    if (!stored) return;
    start(stored);
  }

  function start(stored: StoredToken): void {
    store.auth = stored;
    store.userId = stored.claims.sub;
    store.tenantId = stored.claims.tenantId;
    store.roles = stored.claims.roles;
    store.emit("auth");
    login.hide();
    appRoot.hidden = false;
    refresher.schedule();
    const wanted = loadProjectId();
    if (wanted) void session.openProject(wanted);
    socket.start();
  }

  function signOut(message: string): void {
    socket.stop();
    refresher.cancel();
    prompt.hide();
    panel.close();
    clearToken();
    store.auth = null;
    store.board = null;
    store.wantedProjectId = "";
    store.projects.load([]);
    store.projects.loaded = false;
    store.presence.clear();
    store.runningTimer = null;
    for (const topic of ["auth", "board", "projects", "presence", "timer"] as const) store.emit(topic);
    appRoot.hidden = true;
    login.show(message);
  }

  const stored = loadToken();
  if (stored && !checkToken(stored.token)) start(stored);
  else {
    if (stored) clearToken();
    login.show(stored ? "Your token has expired: sign in again." : "");
  }
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", main);
else main();
