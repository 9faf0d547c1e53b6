// Organizations mode as CloudFormation will see it: the member roles a StackSet deploys, the
// management-side permissions, and the Step Functions fan-out; every synth under cdk-nag.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';

import { KeywardenStack, OrganizationProps, RotationMode } from '../lib/keywarden-stack';
import { MemberRolesStack } from '../lib/member-roles-stack';

const PLACEHOLDER = path.join(__dirname, '..', 'placeholder');
const env = { account: '123456789012', region: 'eu-west-1' };

function synth(organization: OrganizationProps, rotationMode: RotationMode = 'dry-run'): Template {
  const app = new App();
  const stack = new KeywardenStack(app, 'Keywarden', {
    env,
    securityTeamEmail: 'secops@example.org',
    functionAssetPath: PLACEHOLDER,
    rotationMode,
    organization,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  return Template.fromStack(stack);
}

function members(): Template {
  const app = new App();
  const stack = new MemberRolesStack(app, 'KeywardenMemberRoles');
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  return Template.fromStack(stack);
}

function actions(role: any): string[] {
  return role.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement.flatMap((s: any) => s.Action));
}

function policyStatements(t: Template): any[] {
  return Object.values(t.findResources('AWS::IAM::Policy')).flatMap((p: any) => p.Properties.PolicyDocument.Statement);
}

describe('member roles', () => {
  const t = members();
  const roles = t.findResources('AWS::IAM::Role');
  const audit: any = Object.entries(roles).find(([id]) => id.startsWith('AuditRole'))?.[1];
  const rotation: any = Object.entries(roles).find(([id]) => id.startsWith('RotationRole'))?.[1];

  it('trust exactly keywarden\'s role, with the ExternalId when one is set', () => {
    for (const role of [audit, rotation]) {
      const [statement] = role.Properties.AssumeRolePolicyDocument.Statement;
      assert.deepEqual(statement.Principal, { AWS: { Ref: 'KeywardenPrincipalArn' } });
      assert.equal(statement.Action, 'sts:AssumeRole');
      assert.deepEqual(statement.Condition['Fn::If'][0], 'HasExternalId');
      assert.deepEqual(statement.Condition['Fn::If'][1], { StringEquals: { 'sts:ExternalId': { Ref: 'ExternalId' } } });
    }
    assert.equal(t.toJSON().Parameters.ExternalId.NoEcho, true, 'the ExternalId is not shown in the console');
  });

  it('give the audit role no write, and the rotation role the key writes', () => {
    const write = /^(iam:(Create|Update|Delete|Tag|Untag|Put|Attach)|secretsmanager:(Create|Put|Tag))/;
    assert.deepEqual(actions(audit).filter((a) => write.test(a)), []);
    for (const a of ['iam:CreateAccessKey', 'iam:UpdateAccessKey', 'iam:DeleteAccessKey', 'secretsmanager:PutSecretValue']) {
      assert.ok(actions(rotation).includes(a), a);
    }
    assert.ok(actions(audit).includes('iam:GenerateCredentialReport'));
  });
});

describe('the management account', () => {
  it('may assume only the audit role in a dry run, and the rotation role too in enforce mode', () => {
    const assume = (t: Template) =>
      policyStatements(t)
        .filter((s) => s.Action === 'sts:AssumeRole')
        .flatMap((s) => s.Resource);
    const arn = (name: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::*:role/${name}`]] });
    assert.deepEqual(assume(synth({})), [arn('keywarden-audit')]);
    assert.deepEqual(assume(synth({}, 'enforce')), [arn('keywarden-audit'), arn('keywarden-rotation')]);
  });

  it('reads the organization and tells the function it is in Organizations mode', () => {
    const t = synth({ externalId: 'ext-123456' });
    assert.ok(policyStatements(t).some((s) => Array.isArray(s.Action) && s.Action.includes('organizations:ListAccounts')));
    const fn: any = Object.values(t.findResources('AWS::Lambda::Function'))[0];
    const vars = fn.Properties.Environment.Variables;
    assert.equal(vars.ORGANIZATION, 'true');
    assert.equal(vars.MEMBER_AUDIT_ROLE, 'keywarden-audit');
    assert.equal(vars.MEMBER_EXTERNAL_ID, 'ext-123456');
    assert.equal(fn.Properties.Timeout, 900, 'an in-process organization run may take all 15 minutes');
  });
});

describe('the Step Functions fan-out', () => {
  const t = synth({ fanout: 'stepfunctions' });
  const machine: any = Object.values(t.findResources('AWS::StepFunctions::StateMachine'))[0];
  const definition = JSON.stringify(machine.Properties.DefinitionString);

  it('maps the accounts in a Distributed Map with a concurrency cap and a failure tolerance', () => {
    assert.match(definition, /DISTRIBUTED/);
    assert.match(definition, /\\"MaxConcurrency\\":10/);
    assert.match(definition, /\\"ToleratedFailurePercentage\\":10/);
    assert.match(definition, /\\"ItemsPath\\":\\"\$.accounts\\"/);
    assert.match(definition, /\\"action\\":\\"audit-account\\"/);
    assert.match(definition, /\\"account.\$\\":\\"\$\$.Map.Item.Value\\"/);
    assert.match(definition, /\\"action\\":\\"aggregate\\"/);
    assert.match(definition, /\\"Catch\\"/, 'the aggregation runs even when the map fails');
  });

  it('is what the schedule starts, and alarms when it fails or times out', () => {
    const rule: any = Object.values(t.findResources('AWS::Events::Rule'))[0];
    assert.deepEqual(rule.Properties.Targets[0].Arn, { Ref: Object.keys(t.findResources('AWS::StepFunctions::StateMachine'))[0] });
    const alarms = Object.values(t.findResources('AWS::CloudWatch::Alarm')).map((a: any) => a.Properties.MetricName);
    assert.ok(alarms.includes('ExecutionsFailed') && alarms.includes('ExecutionsTimedOut'), JSON.stringify(alarms));
    const fn: any = Object.values(t.findResources('AWS::Lambda::Function'))[0];
    assert.equal(fn.Properties.ReservedConcurrentExecutions, 11, "the map's items plus one");
  });
});
