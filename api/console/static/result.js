// One import followed from upload to end: the upload's progress (XMLHttpRequest), then the
// processing's (polling GET .../outcome_imports/:id), a cancel button while it waits or runs,
// and when it ends its summary and every error; a failed one can be retried (POST .../retry: a new
// import of the same stored file), which is then followed the same way.

import { h } from "/dashboard/static/dom.js";
import { ApiError, get, post, upload } from "./api.js";
import { ErrorsTable } from "./errors-table.js";
import { errorCount, isPending, plural } from "./format.js";

const POLL_MS = 1000;

// Resolves at once while the tab is visible, else when it is shown again: a hidden tab asks nothing.
function whenVisible() {
  if (!document.hidden) return Promise.resolve();
  return new Promise((resolve) => {
    const shown = () => {
      if (document.hidden) return;
      document.removeEventListener("visibilitychange", shown);
      resolve();
    };
    document.addEventListener("visibilitychange", shown);
  });
}
const SUMMARY_ROWS = [
  ["groups", "Groups"],
  ["outcomes", "Outcomes"],
];
const SUMMARY_COLUMNS = ["created", "updated", "deleted", "restored", "unchanged"];

export class ImportResult {
  constructor(section, { onEnded, onStarted }) {
    this.section = section;
    this.onEnded = onEnded;
    this.onStarted = onStarted;
    this.title = section.querySelector("#result-title");
    this.uploadBar = section.querySelector("#upload-progress");
    this.uploadText = section.querySelector("#upload-text");
    this.processingBar = section.querySelector("#processing-progress");
    this.processingText = section.querySelector("#processing-text");
    this.state = section.querySelector("#state");
    this.cancelButton = section.querySelector("#cancel");
    this.retryButton = section.querySelector("#retry");
    this.summary = section.querySelector("#summary");
    this.errors = new ErrorsTable(section.querySelector("#errors"));
    this.dialog = document.getElementById("confirm");
    this.generation = 0;
    this.uploading = null; // the AbortController of the upload in flight
    this.cancelButton.addEventListener("click", () => {
      if (this.uploading) this.uploading.abort();
      else this.askToCancel();
    });
    this.retryButton.addEventListener("click", () => this.askToRetry());
  }

  // Stop following (and uploading) anything: another account or course was chosen.
  hide() {
    this.generation += 1;
    this.uploading?.abort();
    this.section.hidden = true;
  }

  reset(title) {
    this.generation += 1;
    this.uploading?.abort();
    this.section.hidden = false;
    this.title.textContent = title;
    this.summary.hidden = true;
    this.errors.hide();
    this.cancelButton.hidden = true;
    this.retryButton.hidden = true;
    this.current = null;
  }

  setState(text) {
    if (this.state.textContent !== text) this.state.textContent = text;
  }

  // Upload `file` into the context, then follow the import it makes; resolves once it is uploaded.
  // `kind` is what the file is (format.js fileKind): its label and the import_type it is sent as.
  async start(contextPath, groupId, file, dryRun, kind) {
    this.reset(
      dryRun ? `Checking ${kind.label} ${file.name}: nothing will be changed` : `Importing ${kind.label} ${file.name}`,
    );
    const generation = this.generation;
    this.contextPath = contextPath;
    this.uploadBar.value = 0;
    this.uploadText.textContent = "0%";
    this.processingBar.value = 0;
    this.processingText.textContent = "Not started";
    this.setState(`Uploading ${file.name}…`);
    const controller = new AbortController();
    this.uploading = controller;
    this.cancelButton.textContent = "Stop the upload";
    this.cancelButton.hidden = false;
    this.section.scrollIntoView({ block: "start" });
    let lastTenth = 0;
    const path = `${contextPath}/outcome_imports${groupId ? `/group/${groupId}` : ""}`;
    let created;
    try {
      created = await upload(path, file, {
        dryRun,
        importType: kind.importType,
        signal: controller.signal,
        onProgress: (fraction) => {
          const percent = Math.floor(fraction * 100);
          this.uploadBar.value = percent;
          this.uploadText.textContent = `${percent}%`;
          // Screen readers hear every tenth, not every event.
          if (Math.floor(percent / 10) > lastTenth) {
            lastTenth = Math.floor(percent / 10);
            this.setState(`Uploading ${file.name}: ${percent}%`);
          }
        },
      });
    } catch (error) {
      if (generation === this.generation) {
        this.cancelButton.hidden = true;
        this.setState(
          controller.signal.aborted
            ? "The upload was stopped: nothing was imported."
            : `The upload failed: ${error.message}`,
        );
      }
      return;
    } finally {
      if (this.uploading === controller) {
        this.uploading = null;
        this.cancelButton.textContent = "Cancel this import";
      }
    }
    this.uploadBar.value = 100;
    this.uploadText.textContent = "Done";
    if (dryRun && created.dry_run !== true) {
      await this.refuseRealImport(created);
      return;
    }
    this.onStarted(created);
    // Followed in the background: the form is free for the next file as soon as this one is up.
    this.follow(created, generation).catch((error) => this.setState(`Could not follow the import: ${error.message}`));
  }

  // The server ignored dry_run (an older version): the file must not be imported behind the
  // person's back, so the import it made is cancelled at once.
  async refuseRealImport(created) {
    try {
      await post(`${this.contextPath}/outcome_imports/${created.id}/cancel`);
      this.setState("This server cannot check a file without importing it, so the upload was cancelled: nothing was changed.");
    } catch (error) {
      this.setState(`This server cannot check a file without importing it, and cancelling import ${created.id} failed: ${error.message}`);
    }
    this.onStarted(created);
  }

  // Show an import chosen from the recent list, following it if it has not ended.
  async show(contextPath, item) {
    this.reset(`${item.dry_run ? "Check" : "Import"} #${item.id}`);
    this.contextPath = contextPath;
    this.uploadBar.value = 100;
    this.uploadText.textContent = "Uploaded";
    await this.follow(item, this.generation);
    this.section.scrollIntoView({ block: "start" });
  }

  async follow(item, generation) {
    this.current = item;
    const watched = isPending(item);
    if (!this.title.textContent.includes(`#${item.id}`)) this.title.textContent += ` (#${item.id})`;
    let lastTenth = -1;
    for (;;) {
      if (generation !== this.generation) return;
      this.current = item;
      this.processingBar.value = item.progress ?? 0;
      this.processingText.textContent = `${item.progress ?? 0}%`;
      this.cancelButton.hidden = !isPending(item);
      if (!isPending(item)) break;
      if (item.workflow_state === "created") {
        this.processingText.textContent = "Waiting";
        this.setState(`Waiting for its turn (import #${item.id}).`);
      } else {
        const tenth = Math.floor((item.progress ?? 0) / 10);
        if (tenth !== lastTenth) {
          lastTenth = tenth;
          this.setState(`${item.dry_run ? "Checking" : "Importing"}: ${item.progress ?? 0}% of the rows processed.`);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      await whenVisible();
      if (generation !== this.generation) return;
      try {
        item = await get(`${this.contextPath}/outcome_imports/${item.id}`);
      } catch (error) {
        if (error instanceof ApiError && error.status >= 500) continue; // the server is busy: ask again
        this.setState(`Could not read the import: ${error.message}`);
        return;
      }
    }
    this.finish(item);
    if (watched) this.onEnded(item);
  }

  finish(item) {
    const count = errorCount(item);
    const rejected = count > 0 ? `; ${plural(count, "row was", "rows were")} rejected (listed below)` : "";
    if (item.workflow_state === "succeeded") {
      this.processingText.textContent = "Done";
      this.setState(
        item.dry_run
          ? `Check finished: nothing was changed${rejected ? `; importing it, ${plural(count, "row", "rows")} would be rejected (listed below)` : ""}.`
          : `Import #${item.id} succeeded${rejected}.`,
      );
    } else {
      const message = item.processing_errors?.[0]?.[1] ?? "no reason given";
      this.processingText.textContent = "Stopped";
      this.setState(`${item.dry_run ? "Check" : "Import"} #${item.id} failed, so nothing of it was applied: ${message}`);
    }
    this.retryButton.hidden = item.workflow_state !== "failed";
    this.renderSummary(item);
    if (item.workflow_state === "succeeded" && count > 0) {
      const errorsPath = item.errors_url
        ? new URL(item.errors_url, window.location.href).pathname
        : `${this.contextPath}/outcome_imports/${item.id}/errors`;
      this.errors.load(errorsPath, count).catch((error) => {
        this.errors.status.textContent = `Could not load the errors: ${error.message}`;
      });
    }
  }

  renderSummary(item) {
    const summary = item.summary;
    if (!summary) {
      this.summary.hidden = true;
      return;
    }
    const heading = this.summary.querySelector("h3");
    heading.textContent = item.dry_run ? "What importing it would do" : "What the import did";
    const rows = SUMMARY_ROWS.filter(([key]) => summary[key]).map(([key, label]) =>
      h(
        "tr",
        {},
        h("th", { scope: "row" }, label),
        SUMMARY_COLUMNS.map((column) => h("td", { class: "num" }, (summary[key][column] ?? 0).toLocaleString())),
      ),
    );
    this.summary.querySelector("tbody").replaceChildren(...rows);
    const links = summary.links || {};
    this.summary.querySelector("#summary-more").textContent =
      `Links between groups and outcomes: ${(links.added ?? 0).toLocaleString()} added, ` +
      `${(links.removed ?? 0).toLocaleString()} removed. Rows rejected: ${(summary.rows_rejected ?? 0).toLocaleString()}.`;
    // A CASE package's associations that are neither "is child of" (the tree) nor read otherwise.
    const skipped = summary.case_associations_skipped;
    const caseLine = this.summary.querySelector("#summary-case");
    caseLine.hidden = typeof skipped !== "number";
    caseLine.textContent =
      typeof skipped === "number" ? `CASE associations skipped (not part of the tree): ${skipped.toLocaleString()}.` : "";
    this.summary.hidden = false;
  }

  // The console's confirmation: a modal dialog whose first button (focused, and Escape) does nothing.
  confirm({ title, text, keep, act, danger }, onConfirm, returnTo) {
    this.dialog.querySelector("#confirm-title").textContent = title;
    this.dialog.querySelector("#confirm-text").textContent = text;
    this.dialog.querySelector("#confirm-keep").textContent = keep;
    const doIt = this.dialog.querySelector("#confirm-do");
    doIt.textContent = act;
    doIt.className = danger ? "danger" : "";
    this.dialog.returnValue = "";
    this.dialog.addEventListener(
      "close",
      async () => {
        if (this.dialog.returnValue !== "confirm") {
          returnTo.focus();
          return;
        }
        await onConfirm();
      },
      { once: true },
    );
    this.dialog.showModal();
  }

  askToCancel() {
    const item = this.current;
    if (!item || !isPending(item)) return;
    const question = {
      title: "Cancel this import?",
      text: `Import #${item.id} will stop and nothing of it will be applied. This cannot be undone.`,
      keep: "Keep it",
      act: "Cancel the import",
      danger: true,
    };
    this.confirm(
      question,
      async () => {
        try {
          await post(`${this.contextPath}/outcome_imports/${item.id}/cancel`);
          this.setState(`Cancelling import #${item.id}…`);
        } catch (error) {
          this.setState(`Could not cancel import #${item.id}: ${error.message}`);
        }
        this.state.focus();
      },
      this.cancelButton,
    );
  }

  askToRetry() {
    const item = this.current;
    if (!item || item.workflow_state !== "failed") return;
    const what = item.dry_run ? "check" : "import";
    const question = {
      title: `Retry this ${what}?`,
      text: `A new ${what} of the same stored file starts and is followed here; ${what} #${item.id} stays as it is, failed.`,
      keep: "Not now",
      act: `Retry the ${what}`,
      danger: false,
    };
    this.confirm(question, () => this.retry(item), this.retryButton);
  }

  async retry(item) {
    let created;
    try {
      created = await post(`${this.contextPath}/outcome_imports/${item.id}/retry`);
    } catch (error) {
      // 409: it cannot be retried (no longer failed, or its file is no longer stored).
      this.setState(`Could not retry ${item.dry_run ? "check" : "import"} #${item.id}: ${error.message}`);
      this.retryButton.focus();
      return;
    }
    this.reset(`Retry of ${item.dry_run ? "check" : "import"} #${item.id}`);
    const generation = this.generation;
    this.uploadBar.value = 100;
    this.uploadText.textContent = "Stored file";
    this.processingBar.value = 0;
    this.processingText.textContent = "Not started";
    this.setState(`Import #${created.id} retries #${item.id} with the same file.`);
    this.state.focus();
    this.onStarted(created);
    this.follow(created, generation).catch((error) => this.setState(`Could not follow the import: ${error.message}`));
  }
}
