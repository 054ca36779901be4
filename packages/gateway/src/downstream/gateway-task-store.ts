import { InMemoryTaskStore } from '@modelcontextprotocol/sdk/experimental/tasks/stores/in-memory.js';
import type { Task } from '@modelcontextprotocol/sdk/types.js';

/** How long a task and its result are kept when the agent asks for no ttl (one hour). */
export const DEFAULT_TASK_TTL_MS = 3_600_000;
/** How often agents are told to poll a task (ms). */
export const TASK_POLL_INTERVAL_MS = 1000;

/**
 * A session's MCP tasks (the SDK's in-memory store, per session): task-augmented `tools/call`s
 * the gateway runs in the background. It tells the running call when `tasks/cancel` cancels
 * its task, so a call waiting for an approval stops waiting (the request stays open).
 */
export class GatewayTaskStore extends InMemoryTaskStore {
  readonly #running = new Map<string, AbortController>();

  /** The running call of task `id`: aborted when the task is cancelled; `done()` once it finished. */
  onCancel(id: string): { readonly signal: AbortSignal; done(): void } {
    const controller = new AbortController();
    this.#running.set(id, controller);
    return { signal: controller.signal, done: () => this.#running.delete(id) };
  }

  override async updateTaskStatus(taskId: string, status: Task['status'], statusMessage?: string, sessionId?: string): Promise<void> {
    await super.updateTaskStatus(taskId, status, statusMessage, sessionId);
    if (status === 'cancelled') this.#running.get(taskId)?.abort();
  }
}
