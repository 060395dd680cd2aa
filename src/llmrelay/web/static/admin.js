/* The admin pages: API keys (/app/api-keys) and users (/app/users), over
 * /api/llmrelay/api_keys and /api/llmrelay/users with the session. */
"use strict";
(function () {
  const SPACE_ID = /^[a-z0-9_-]{1,64}$/;

  function helpers() { return window.Llmrelay; }

  function fieldError(id, message) {
    const { $ } = helpers();
    const box = $(`#${id}-error`);
    const input = $(`#${id}`);
    if (box) { box.textContent = message || ""; box.hidden = !message; }
    if (input) { if (message) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid"); }
    return message ? input : null;
  }

  /* Roles and spaces of an _access_fields.html block, with every problem at its field. */
  function readAccess(root, prefix) {
    const { $all, $ } = helpers();
    const roles = $all('input[name="roles"]:checked', root).map((i) => i.value);
    const spaces = $(`#${prefix}-spaces`, root).value.split(",").map((s) => s.trim()).filter(Boolean);
    const problems = [];
    const rolesBox = $(`#${prefix}-roles-error`, root);
    rolesBox.textContent = roles.length ? "" : "Choose at least one role.";
    rolesBox.hidden = roles.length > 0;
    if (!roles.length) problems.push($('input[name="roles"]', root));
    let spaceProblem = "";
    if (!spaces.length) spaceProblem = "Enter * for all spaces, or at least one space ID.";
    else {
      const bad = spaces.filter((s) => s !== "*" && !SPACE_ID.test(s));
      if (bad.length) spaceProblem = `"${bad[0]}" is not a space ID: use lower-case letters, digits, _ and - (for example team-a).`;
    }
    const spaceInput = fieldError(`${prefix}-spaces`, spaceProblem);
    if (spaceInput) problems.push(spaceInput);
    return { roles, spaces, problems };
  }

  function grantsText(grants) {
    const byRole = new Map();
    for (const g of grants) byRole.set(g.role, [...(byRole.get(g.role) || []), g.space === "*" ? "all spaces" : g.space]);
    return [...byRole.entries()].map(([role, spaces]) => `${role} (${spaces.join(", ")})`).join("; ") || "no roles";
  }

  /* The shared dialog: `fields` are nodes put in it; `run` returns an error message or "". */
  function openDialog({ title, text, fields, confirm, danger, run, opener }) {
    const { $ } = helpers();
    const dialog = $("#admin-dialog");
    $("#admin-dialog-title").textContent = title;
    $("#admin-dialog-text").textContent = text || "";
    $("#admin-dialog-text").hidden = !text;
    const box = $("#admin-dialog-fields");
    box.textContent = "";
    for (const f of fields || []) box.appendChild(f);
    const button = $("#admin-dialog-confirm");
    button.textContent = confirm;
    button.className = `button ${danger ? "danger" : "primary"}`;
    const error = $("#admin-dialog-error");
    error.hidden = true;
    const form = $("#admin-dialog-form");
    const submit = async (event) => {
      event.preventDefault();
      button.disabled = true;
      const problem = await run(dialog);
      button.disabled = false;
      if (problem) { error.textContent = problem; error.hidden = false; return; }
      dialog.close();
    };
    const cancel = () => dialog.close();
    form.addEventListener("submit", submit);
    $("#admin-dialog-cancel").addEventListener("click", cancel);
    dialog.addEventListener("close", () => {
      form.removeEventListener("submit", submit);
      $("#admin-dialog-cancel").removeEventListener("click", cancel);
      if (opener && opener.isConnected) opener.focus();
    }, { once: true });
    dialog.showModal();
    const first = box.querySelector("input");
    (first || $("#admin-dialog-cancel")).focus();
  }

  function actionButton(label, aria, onClick, danger) {
    const { make } = helpers();
    const button = make("button", { type: "button", class: `button small ${danger ? "danger ghost" : "ghost"}`, "aria-label": aria }, label);
    button.addEventListener("click", () => onClick(button));
    return button;
  }

  function cell(label, text, tag) {
    const { make } = helpers();
    const node = make(tag || "td", { "data-label": label, ...(tag === "th" ? { scope: "row" } : {}) });
    if (text instanceof Node) node.appendChild(text); else node.textContent = text;
    return node;
  }

  function clearForm(form) {
    const { $all } = helpers();
    $all("[aria-invalid]", form).forEach((i) => i.removeAttribute("aria-invalid"));
    $all(".field-error", form).forEach((p) => { p.hidden = true; p.textContent = ""; });
  }

  // --- API keys ------------------------------------------------------------------------
  async function keysPage() {
    const { $, api, apiMessage, showError, formatTime, make, toast } = helpers();
    const form = $("#create-key-form");
    if (!form) return;
    const body = $("#keys-body");

    async function load() {
      const result = await api("GET", "/llmrelay/api_keys");
      body.textContent = "";
      if (!result.ok) { showError($("#page-error"), apiMessage(result)); return; }
      for (const key of result.data) {
        const row = make("tr", { "data-key-id": key.id });
        row.appendChild(cell("Name", key.name, "th"));
        row.appendChild(cell("ID", make("code", {}, key.id)));
        row.appendChild(cell("Roles", grantsText(key.grants)));
        row.appendChild(cell("Owner", key.owner || "—"));
        row.appendChild(cell("Created", formatTime(key.created_at, { seconds: false })));
        row.appendChild(cell("", actionButton("Revoke", `Revoke API key ${key.name}`, (opener) => openDialog({
          title: "Revoke API key?",
          text: `Applications using the key "${key.name}" (${key.id}) will be refused at once. This cannot be undone.`,
          confirm: "Revoke API key",
          danger: true,
          opener,
          run: async () => {
            const done = await api("DELETE", `/llmrelay/api_keys/${encodeURIComponent(key.id)}`);
            if (!done.ok) return apiMessage(done);
            toast(`Revoked API key "${key.name}".`);
            $("#new-key").hidden = true;
            await load();
            return "";
          },
        }), true)));
        body.appendChild(row);
      }
      if (!result.data.length) {
        const row = make("tr");
        row.appendChild(make("td", { colspan: 6, class: "muted" }, "No API keys yet."));
        body.appendChild(row);
      }
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearForm(form);
      showError($("#page-error"), "");
      const name = $("#key-name").value.trim();
      const nameInput = fieldError("key-name", name ? "" : "Name is required: say which application uses the key.");
      const access = readAccess(form, "key");
      const problems = [nameInput, ...access.problems].filter(Boolean);
      if (problems.length) { problems[0].focus(); return; }
      const result = await api("POST", "/llmrelay/api_keys", { name, roles: access.roles, spaces: access.spaces });
      if (!result.ok) { showError($("#page-error"), apiMessage(result)); $("#page-error").focus(); return; }
      $("#new-key-name").textContent = `"${result.data.name}"`;
      $("#new-key-value").value = result.data.api_key;
      $("#copy-status").textContent = "";
      $("#new-key").hidden = false;
      $("#new-key").focus();
      form.reset();
      await load();
    });

    $("#copy-key").addEventListener("click", async () => {
      const input = $("#new-key-value");
      let copied = false;
      try {
        await navigator.clipboard.writeText(input.value);
        copied = true;
      } catch (_) {
        input.select();
      }
      $("#copy-status").textContent = copied ? "Copied to the clipboard." : "Selected: press Ctrl+C (⌘C) to copy.";
    });

    await load();
  }

  // --- users ---------------------------------------------------------------------------
  async function usersPage() {
    const { $, make, api, apiMessage, showError, formatTime, toast } = helpers();
    const form = $("#create-user-form");
    if (!form) return;
    const body = $("#users-body");
    const me = document.body.dataset.user;
    const template = $("#create-user-form .role-choices").closest("fieldset");

    function accessFields(user) {
      const roles = new Set(user.grants.map((g) => g.role));
      const spaces = [...new Set(user.grants.map((g) => g.space))];
      const fieldset = template.cloneNode(true);
      for (const input of fieldset.querySelectorAll("input")) {
        input.id = input.id.replace(/^user-/, "edit-");
        input.checked = roles.has(input.value);
      }
      for (const label of fieldset.querySelectorAll("label")) label.htmlFor = label.htmlFor.replace(/^user-/, "edit-");
      fieldset.querySelector(".field-error").id = "edit-roles-error";
      const spacesField = template.nextElementSibling.cloneNode(true);
      const input = spacesField.querySelector("input");
      input.id = "edit-spaces";
      input.value = spaces.join(", ") || "*";
      input.removeAttribute("aria-invalid");
      input.setAttribute("aria-describedby", "edit-spaces-help edit-spaces-error");
      spacesField.querySelector("label").htmlFor = "edit-spaces";
      spacesField.querySelector(".help").id = "edit-spaces-help";
      const error = spacesField.querySelector(".field-error");
      error.id = "edit-spaces-error";
      error.hidden = true;
      return [fieldset, spacesField];
    }

    function passwordField() {
      const field = make("div", { class: "field" });
      field.appendChild(make("label", { for: "reset-password" }, "New password"));
      field.appendChild(make("input", { id: "reset-password", type: "password", autocomplete: "new-password" }));
      return field;
    }

    async function load() {
      const result = await api("GET", "/llmrelay/users");
      body.textContent = "";
      if (!result.ok) { showError($("#page-error"), apiMessage(result)); return; }
      for (const user of result.data) {
        const row = make("tr", { "data-user": user.name });
        row.appendChild(cell("Name", user.name + (user.name === me ? " (you)" : ""), "th"));
        row.appendChild(cell("Roles", grantsText(user.grants)));
        row.appendChild(cell("Created", formatTime(user.created_at, { seconds: false })));
        const actions = make("div", { class: "row-actions" });
        actions.appendChild(actionButton("Roles", `Change the roles of ${user.name}`, (opener) => openDialog({
          title: `Roles of ${user.name}`,
          fields: accessFields(user),
          confirm: "Save roles",
          opener,
          run: async (dialog) => {
            const access = readAccess(dialog, "edit");
            if (access.problems.length) { access.problems[0].focus(); return "Fix the roles or spaces above."; }
            const done = await api("PUT", `/llmrelay/users/${encodeURIComponent(user.name)}/roles`, { roles: access.roles, spaces: access.spaces });
            if (!done.ok) return apiMessage(done);
            toast(`Saved the roles of ${user.name}.`);
            await load();
            return "";
          },
        })));
        actions.appendChild(actionButton("Reset password", `Reset the password of ${user.name}`, (opener) => openDialog({
          title: `New password for ${user.name}`,
          fields: [passwordField()],
          confirm: "Set password",
          opener,
          run: async (dialog) => {
            const password = dialog.querySelector("#reset-password").value;
            if (!password.trim()) return "Enter the new password.";
            const done = await api("PUT", `/llmrelay/users/${encodeURIComponent(user.name)}/password`, { password });
            if (!done.ok) return apiMessage(done);
            toast(`Set a new password for ${user.name}.`);
            return "";
          },
        })));
        if (user.name !== me) {
          actions.appendChild(actionButton("Delete", `Delete user ${user.name}`, (opener) => openDialog({
            title: "Delete user?",
            text: `${user.name} can no longer log in, and the API keys they own stop working. This cannot be undone.`,
            confirm: "Delete user",
            danger: true,
            opener,
            run: async () => {
              const done = await api("DELETE", `/llmrelay/users/${encodeURIComponent(user.name)}`);
              if (!done.ok) return apiMessage(done);
              toast(`Deleted user ${user.name}.`);
              await load();
              return "";
            },
          }), true));
        }
        row.appendChild(cell("", actions));
        body.appendChild(row);
      }
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearForm(form);
      showError($("#page-error"), "");
      const name = $("#user-name").value.trim();
      const password = $("#user-password").value;
      const problems = [
        fieldError("user-name", name ? "" : "User name is required."),
        fieldError("user-password", password.trim() ? "" : "Password is required."),
        ...readAccess(form, "user").problems,
      ].filter(Boolean);
      if (problems.length) { problems[0].focus(); return; }
      const access = readAccess(form, "user");
      const result = await api("POST", "/llmrelay/users", { name, password, roles: access.roles, spaces: access.spaces });
      if (!result.ok) {
        if (result.status === 409) { fieldError("user-name", `A user named ${name} already exists.`).focus(); return; }
        showError($("#page-error"), apiMessage(result));
        $("#page-error").focus();
        return;
      }
      toast(`Created user ${name}.`);
      form.reset();
      await load();
    });

    await load();
  }

  helpers().onPage(["api-keys", "users"], (page) => (page === "users" ? usersPage() : keysPage()));
})();
