import * as fs from 'fs';
import * as path from 'path';

import { Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/**
 * The canonical self-service policy: the same file keywarden's drift check compares the
 * deployed group against, so what the stack deploys is by construction what the auditor
 * expects (one source, no copy to fall out of step).
 */
export const CANONICAL_POLICY_FILE = path.join(
  __dirname,
  '..',
  '..',
  'crates',
  'keywarden-core',
  'policies',
  'self-service.json',
);

/** The seed stack's switches (tecRacer's SelfEditingStack), all on by default. */
export interface SelfServiceSwitches {
  /** Manage one's own virtual MFA device and MFA enrolment. */
  readonly mfaManagementAllowed?: boolean;
  /** Manage one's own access keys and signing certificates (the API credentials). */
  readonly accessKeyManagementAllowed?: boolean;
  /** Change one's own console password. */
  readonly passwordEditingAllowed?: boolean;
  /** Manage one's own SSH public keys and service-specific (Git) credentials. */
  readonly sshKeyManagementAllowed?: boolean;
  /** Deny everything but MFA set-up until the user signs in with MFA. */
  readonly blockNonMfaAccess?: boolean;
}

/** Which canonical statements each switch keeps, by Sid. */
const STATEMENTS_BY_SWITCH: Record<keyof SelfServiceSwitches, string[]> = {
  mfaManagementAllowed: ['AllowManageOwnVirtualMFADevice', 'AllowManageOwnUserMFA'],
  accessKeyManagementAllowed: ['AllowManageOwnAccessKeys', 'AllowManageOwnSigningCertificates'],
  passwordEditingAllowed: ['AllowManageOwnPasswords'],
  sshKeyManagementAllowed: ['AllowManageOwnSSHPublicKeys', 'AllowManageOwnGitCredentials'],
  blockNonMfaAccess: ['DenyAllExceptListedIfNoMFA'],
};

interface PolicyStatementJson {
  Sid?: string;
  [key: string]: unknown;
}

interface PolicyJson {
  Version: string;
  Statement: PolicyStatementJson[];
}

/**
 * The canonical policy with the statements of the switched-off features dropped. With every
 * switch on it is the canonical file itself, statement for statement.
 */
export function selfServicePolicy(switches: SelfServiceSwitches = {}): PolicyJson {
  const canonical = JSON.parse(fs.readFileSync(CANONICAL_POLICY_FILE, 'utf8')) as PolicyJson;
  const dropped = new Set<string>();
  for (const [name, sids] of Object.entries(STATEMENTS_BY_SWITCH)) {
    if (switches[name as keyof SelfServiceSwitches] === false) {
      sids.forEach((sid) => dropped.add(sid));
    }
  }
  const known = new Set(Object.values(STATEMENTS_BY_SWITCH).flat().concat(['AllowViewAccountInfo']));
  for (const s of canonical.Statement) {
    if (!s.Sid || !known.has(s.Sid)) {
      throw new Error(`canonical policy statement ${s.Sid ?? '(no Sid)'} is not mapped to a switch`);
    }
  }
  return { ...canonical, Statement: canonical.Statement.filter((s) => !dropped.has(s.Sid ?? '')) };
}

export interface SelfServiceGroupProps extends SelfServiceSwitches {
  /** keywarden's MFA_GROUP. */
  readonly groupName?: string;
}

/**
 * The MFA-enforcing self-service group: members manage only their own credentials and can do
 * nothing else until they sign in with MFA. Users are added to it outside this stack.
 */
export class SelfServiceGroup extends Construct {
  public readonly group: iam.Group;
  public readonly policyName = 'self-service';

  constructor(scope: Construct, id: string, props: SelfServiceGroupProps = {}) {
    super(scope, id);
    this.group = new iam.Group(this, 'Group', { groupName: props.groupName ?? 'SelfEdit' });
    // An L1 policy renders the document exactly as the file has it (the L2 would rewrite
    // one-element lists and merge statements), which keeps the deployed text diffable
    // against the canonical file.
    const policy = new iam.CfnPolicy(this, 'Policy', {
      policyName: this.policyName,
      groups: [this.group.groupName],
      policyDocument: selfServicePolicy(props),
    });
    const ownCredentials =
      "Scoped to the caller's own user or MFA device with ${aws:username}; IAM allows no narrower resource.";
    // cdk-nag spells ${aws:username} as <aws:username> in its finding ids.
    for (const resource of ['arn:aws:iam::*:user/<aws:username>', 'arn:aws:iam::*:mfa/<aws:username>']) {
      Validations.of(policy).acknowledge({ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason: ownCredentials });
    }
    Validations.of(policy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'GetAccountPasswordPolicy, GetAccountSummary and ListVirtualMFADevices support no resource-level ' +
        'scoping, and the MFA deny must cover every resource.',
    });
  }
}
