import { Flags } from '@oclif/core';
import type { AdminConnection } from '../admin/admin-client.js';

/** The flags every `tollgate approvals` command takes: where the admin API is, and whose token. */
export const approvalConnectionFlags = {
  'admin-url': Flags.string({
    description: "the gateway's admin API (admin.host and admin.port of its configuration)",
    env: 'TOLLGATE_ADMIN_URL',
    default: 'http://127.0.0.1:8081',
    helpValue: '<url>',
  }),
  token: Flags.string({ description: "an approver's bearer token (or the admin token); default TOLLGATE_TOKEN, then TOLLGATE_ADMIN_TOKEN", env: 'TOLLGATE_TOKEN', helpValue: '<token>' }),
};

/** The admin connection the flags name. */
export function approvalConnection(flags: { 'admin-url': string; token?: string | undefined }): AdminConnection {
  return { adminUrl: flags['admin-url'], token: flags.token ?? process.env['TOLLGATE_ADMIN_TOKEN'] };
}
