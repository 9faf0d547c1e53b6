#!/usr/bin/env node
// The keywarden CDK app. Every setting is a context value (`-c name=value`), listed in the
// README's deploy section; `npx cdk synth` works with none of them and no credentials.
import * as fs from 'fs';
import * as path from 'path';

import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';

import { KeywardenStack, OrganizationProps, RotationMode, Thresholds } from '../lib/keywarden-stack';
import { MemberRolesStack } from '../lib/member-roles-stack';

const app = new App();
const ctx = (name: string): string | undefined => {
  const v = app.node.tryGetContext(name);
  return v === undefined || v === null || v === '' ? undefined : String(v);
};
const flag = (name: string, dflt: boolean): boolean => {
  const v = ctx(name);
  if (v === undefined) return dflt;
  if (v !== 'true' && v !== 'false') throw new Error(`context ${name} must be true or false, not ${v}`);
  return v === 'true';
};
const days = (name: string): number | undefined => {
  const v = ctx(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`context ${name} must be a whole number of days, not ${v}`);
  return n;
};

// `make deploy` sets deploy=true: then the real binary and a real address are required, so a
// placeholder can only ever be synthesized, never deployed.
const deploying = flag('deploy', false);
const builtAsset = ctx('functionAsset') ?? path.join(__dirname, '..', '..', 'target', 'lambda', 'keywarden');
const haveBuild = fs.existsSync(path.join(builtAsset, 'bootstrap'));
if (deploying && !haveBuild) {
  throw new Error(`no built function in ${builtAsset}: run cargo lambda build --release --arm64 (make deploy does)`);
}
const email = ctx('securityTeamEmail');
if (deploying && !email) {
  throw new Error('pass -c securityTeamEmail=<address> (make deploy EMAIL=<address>)');
}
let desiredState = ctx('desiredState');
const desiredStateFile = ctx('desiredStateFile');
if (desiredStateFile) desiredState = fs.readFileSync(desiredStateFile, 'utf8');

const thresholds: Thresholds = {
  maxKeyAgeDays: days('maxKeyAgeDays'),
  unusedDays: days('unusedDays'),
  inactiveKeyMaxDays: days('inactiveKeyMaxDays'),
  rotateAfterDays: days('rotateAfterDays'),
  graceDays: days('graceDays'),
  inactiveDays: days('inactiveDays'),
};

const fanout = ctx('fanout') ?? 'in-process';
if (fanout !== 'in-process' && fanout !== 'stepfunctions') {
  throw new Error(`context fanout must be in-process or stepfunctions, not ${fanout}`);
}
const fanoutConcurrency = ctx('fanoutConcurrency');
const organization: OrganizationProps | undefined = flag('organization', false)
  ? {
      auditRole: ctx('memberAuditRole'),
      rotationRole: ctx('memberRotationRole'),
      externalId: ctx('memberExternalId'),
      fanout,
      fanoutConcurrency: fanoutConcurrency === undefined ? undefined : Number(fanoutConcurrency),
    }
  : undefined;
if (fanout === 'stepfunctions' && !organization) throw new Error('context fanout=stepfunctions needs organization=true');

new KeywardenStack(app, ctx('stackName') ?? 'Keywarden', {
  organization,
  securityHub: flag('securityHub', false),
  // Environment-agnostic unless the CLI knows the target account (it does with credentials).
  env:
    process.env.CDK_DEFAULT_ACCOUNT && process.env.CDK_DEFAULT_REGION
      ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION }
      : undefined,
  securityTeamEmail: email ?? 'security-team@example.com',
  functionAssetPath: haveBuild ? builtAsset : path.join(__dirname, '..', 'placeholder'),
  schedule: ctx('schedule'),
  rotationMode: (ctx('rotationMode') ?? 'dry-run') as RotationMode,
  thresholds,
  desiredState,
  reportBucket: flag('reportBucket', true),
  createSelfServiceGroup: flag('createSelfServiceGroup', true),
  selfServiceGroupName: ctx('selfServiceGroupName'),
  selfService: {
    mfaManagementAllowed: flag('mfaManagementAllowed', true),
    accessKeyManagementAllowed: flag('accessKeyManagementAllowed', true),
    passwordEditingAllowed: flag('passwordEditingAllowed', true),
    sshKeyManagementAllowed: flag('sshKeyManagementAllowed', true),
    blockNonMfaAccess: flag('blockNonMfaAccess', true),
  },
});

// The member accounts' roles, deployed by a StackSet (docs/ORGANIZATIONS.md).
new MemberRolesStack(app, 'KeywardenMemberRoles', {
  description: 'keywarden member-account roles: read-only audit, and rotation for enforce mode',
});

// cdk-nag's AWS Solutions rules on every synth: an unacknowledged finding fails it.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
