// The deployable stack, as CloudFormation will see it: synthesized with aws-cdk-lib's
// assertions and cdk-nag's AWS Solutions rules, the way `cdk synth` runs them.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';

import { KeywardenStack, KeywardenStackProps } from '../lib/keywarden-stack';
import { CANONICAL_POLICY_FILE, selfServicePolicy } from '../lib/self-service-group';

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const PLACEHOLDER = path.join(__dirname, '..', 'placeholder');

type Props = Omit<KeywardenStackProps, 'securityTeamEmail' | 'functionAssetPath'> &
  Partial<Pick<KeywardenStackProps, 'securityTeamEmail'>>;

/** Synthesizes the stack with cdk-nag attached; synthesis throws on an unacknowledged finding. */
function synth(props: Props = {}): Template {
  const app = new App();
  const stack = new KeywardenStack(app, 'Keywarden', {
    env: { account: ACCOUNT, region: REGION },
    securityTeamEmail: 'secops@example.org',
    functionAssetPath: PLACEHOLDER,
    ...props,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  return Template.fromStack(stack);
}

function only<T = any>(template: Template, type: string, props: object = {}): T {
  const found = template.findResources(type, props);
  const values = Object.values(found);
  assert.equal(values.length, 1, `exactly one ${type}: ${JSON.stringify(Object.keys(found))}`);
  return values[0] as T;
}

function logicalId(template: Template, type: string): string {
  const ids = Object.keys(template.findResources(type));
  assert.equal(ids.length, 1, `exactly one ${type}`);
  return ids[0];
}

/** The statements of the function role's policy, keyed by Sid. */
function roleStatements(template: Template): Record<string, { Action: string | string[]; Resource: unknown }> {
  const role = logicalId(template, 'AWS::IAM::Role');
  const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p: any) =>
    (p.Properties.Roles ?? []).some((r: any) => r.Ref === role),
  );
  assert.equal(policies.length, 1, 'one policy on the function role');
  const out: Record<string, any> = {};
  for (const s of (policies[0] as any).Properties.PolicyDocument.Statement) {
    assert.equal(s.Effect, 'Allow');
    assert.equal(s.Condition, undefined, `${s.Sid} has no condition`);
    out[s.Sid] = { Action: s.Action, Resource: s.Resource };
  }
  return out;
}

const arn = (...parts: unknown[]) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ...parts]] });

function expectedStatements(template: Template, enforce: boolean, bucket: boolean): Record<string, unknown> {
  const topic = logicalId(template, 'AWS::SNS::Topic');
  const key = logicalId(template, 'AWS::KMS::Key');
  const logs = logicalId(template, 'AWS::Logs::LogGroup');
  const users = arn(`:iam::${ACCOUNT}:user/*`);
  const secrets = arn(`:secretsmanager:${REGION}:${ACCOUNT}:secret:keywarden/*`);
  const out: Record<string, unknown> = {
    AuditAccountReads: {
      Action: [
        'iam:GenerateCredentialReport',
        'iam:GetCredentialReport',
        'iam:GetAccountAuthorizationDetails',
        'iam:ListVirtualMFADevices',
        'iam:GetAccountSummary',
        'iam:GetAccountPasswordPolicy',
      ],
      Resource: '*',
    },
    AuditUserReads: {
      Action: ['iam:GetUser', 'iam:ListUserTags', 'iam:ListAccessKeys', 'iam:GetAccessKeyLastUsed', 'iam:GetLoginProfile'],
      Resource: users,
    },
    AuditPolicyReads: {
      Action: ['iam:GetPolicy', 'iam:GetPolicyVersion'],
      Resource: [arn(':iam::aws:policy/*'), arn(`:iam::${ACCOUNT}:policy/*`)],
    },
    StoredKeyReads: { Action: 'secretsmanager:DescribeSecret', Resource: secrets },
    StoredKeyListing: { Action: 'secretsmanager:ListSecrets', Resource: '*' },
    Alerts: { Action: 'sns:Publish', Resource: { Ref: topic } },
    AlertEncryption: { Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: { 'Fn::GetAtt': [key, 'Arn'] } },
    Logs: { Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [logs, 'Arn'] } },
  };
  if (bucket) {
    const b = logicalId(template, 'AWS::S3::Bucket');
    out.ReportBucketList = { Action: 's3:ListBucket', Resource: { 'Fn::GetAtt': [b, 'Arn'] } };
    out.ReportObjects = {
      Action: ['s3:GetObject', 's3:PutObject'],
      Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [b, 'Arn'] }, '/*']] },
    };
  }
  if (enforce) {
    out.RotateKeys = {
      Action: ['iam:CreateAccessKey', 'iam:UpdateAccessKey', 'iam:DeleteAccessKey', 'iam:TagUser', 'iam:UntagUser'],
      Resource: users,
    };
    out.StoreNewKeys = {
      Action: [
        'secretsmanager:CreateSecret',
        'secretsmanager:PutSecretValue',
        'secretsmanager:PutResourcePolicy',
        'secretsmanager:TagResource',
      ],
      Resource: secrets,
    };
  }
  return out;
}

describe('schedule', () => {
  it('runs daily at 06:00 UTC by default, or on the given expression', () => {
    only(synth(), 'AWS::Events::Rule', { Properties: { ScheduleExpression: 'cron(0 6 * * ? *)', State: 'ENABLED' } });
    only(synth({ schedule: 'rate(12 hours)' }), 'AWS::Events::Rule', {
      Properties: { ScheduleExpression: 'rate(12 hours)' },
    });
  });

  it('retries twice and sends undeliverable runs to an encrypted dead-letter queue', () => {
    const t = synth();
    const dlq = logicalId(t, 'AWS::SQS::Queue');
    t.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
    t.hasResourceProperties('AWS::Events::Rule', {
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [logicalId(t, 'AWS::Lambda::Function'), 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } },
          RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 7200 },
        }),
      ],
    });
  });
});

describe('function', () => {
  it('is arm64 on provided.al2023, one run at a time, sized from the benchmark', () => {
    const fn = only(synth(), 'AWS::Lambda::Function');
    assert.equal(fn.Properties.Runtime, 'provided.al2023');
    assert.deepEqual(fn.Properties.Architectures, ['arm64']);
    assert.equal(fn.Properties.ReservedConcurrentExecutions, 1);
    assert.equal(fn.Properties.MemorySize, 512);
    assert.equal(fn.Properties.Timeout, 600);
    assert.equal(fn.Properties.Handler, 'bootstrap');
  });

  it('gets its settings from the stack props', () => {
    const desired = '{"required_for_all": ["SelfEdit"], "restricted": {"Admins": ["alice"]}}';
    const t = synth({
      rotationMode: 'enforce',
      desiredState: desired,
      thresholds: { maxKeyAgeDays: 60, graceDays: 3 },
      selfServiceGroupName: 'Force_MFA',
    });
    const vars = only(t, 'AWS::Lambda::Function').Properties.Environment.Variables;
    assert.equal(vars.ROTATION_MODE, 'enforce');
    assert.equal(vars.DESIRED_STATE, desired);
    assert.equal(vars.MAX_KEY_AGE_DAYS, '60');
    assert.equal(vars.GRACE_DAYS, '3');
    assert.equal(vars.MFA_GROUP, 'Force_MFA');
    assert.deepEqual(vars.TOPIC_ARN, { Ref: logicalId(t, 'AWS::SNS::Topic') });
    assert.deepEqual(vars.REPORT_BUCKET, { Ref: logicalId(t, 'AWS::S3::Bucket') });
    assert.deepEqual(vars.KEYWARDEN_ROLE_ARN, { 'Fn::GetAtt': [logicalId(t, 'AWS::IAM::Role'), 'Arn'] });
    assert.equal(vars.UNUSED_DAYS, undefined, 'unset thresholds keep the function defaults');
    const defaults = only(synth(), 'AWS::Lambda::Function').Properties.Environment.Variables;
    assert.equal(defaults.ROTATION_MODE, 'dry-run', 'nobody’s keys change until a human chooses enforce');
    assert.equal(defaults.DESIRED_STATE, undefined);
  });

  it('refuses bad props before anything is synthesized', () => {
    assert.throws(() => synth({ securityTeamEmail: 'not-an-address' }), /securityTeamEmail/);
    assert.throws(() => synth({ desiredState: '{"required_for_all": [' }), /desiredState is not JSON/);
    assert.throws(() => synth({ rotationMode: 'yolo' as any }), /rotationMode/);
    assert.throws(
      () =>
        new KeywardenStack(new App(), 'S', { securityTeamEmail: 'a@b.example', functionAssetPath: __dirname }),
      /no bootstrap/,
    );
  });
});

describe('alerts', () => {
  it('publish to a KMS-encrypted topic with the security team subscribed by email', () => {
    const t = synth();
    const key = logicalId(t, 'AWS::KMS::Key');
    t.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [key, 'Arn'] } });
    t.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    only(t, 'AWS::SNS::Subscription', {
      Properties: { Protocol: 'email', Endpoint: 'secops@example.org', TopicArn: { Ref: logicalId(t, 'AWS::SNS::Topic') } },
    });
  });

  it('alarm on function errors and on dead letters, to the topic', () => {
    const t = synth();
    const topic = { Ref: logicalId(t, 'AWS::SNS::Topic') };
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      Namespace: 'AWS/Lambda',
      Threshold: 1,
      AlarmActions: [topic],
    });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Threshold: 1,
      AlarmActions: [topic],
    });
    // CloudWatch may use the topic's key, or its alarms would never arrive.
    t.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
          }),
        ]),
      },
    });
  });
});

describe('role', () => {
  it('has exactly the statements the function uses, action by action', () => {
    for (const [mode, enforce] of [
      ['enforce', true],
      ['dry-run', false],
      ['off', false],
    ] as const) {
      const t = synth({ rotationMode: mode });
      assert.deepEqual(roleStatements(t), expectedStatements(t, enforce, true), `rotation mode ${mode}`);
    }
    const t = synth({ reportBucket: false });
    assert.deepEqual(roleStatements(t), expectedStatements(t, false, false), 'without a report bucket');
  });

  it('has no wildcard action in any IAM policy of the stack', () => {
    const t = synth({ rotationMode: 'enforce' });
    const documents = [
      ...Object.values(t.findResources('AWS::IAM::Policy')).map((p: any) => p.Properties.PolicyDocument),
      ...Object.values(t.findResources('AWS::IAM::Role')).map((r: any) => r.Properties.AssumeRolePolicyDocument),
    ];
    let actions = 0;
    for (const doc of documents) {
      for (const s of doc.Statement) {
        for (const a of [s.Action ?? [], s.NotAction ?? []].flat()) {
          actions += 1;
          assert.ok(typeof a === 'string' && !a.includes('*') && !a.includes('?'), `wildcard action ${a} in ${s.Sid}`);
        }
      }
    }
    assert.ok(actions > 40, `the check saw the actions (${actions})`);
  });

  it('is assumed by Lambda only and carries no managed policy', () => {
    const role = only(synth(), 'AWS::IAM::Role');
    assert.deepEqual(role.Properties.AssumeRolePolicyDocument.Statement, [
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
    ]);
    assert.equal(role.Properties.ManagedPolicyArns, undefined);
  });
});

describe('report bucket', () => {
  it('is encrypted, versioned, private, TLS-only and expires old reports', () => {
    const t = synth();
    t.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: {
        Rules: [Match.objectLike({ ExpirationInDays: 400, NoncurrentVersionExpiration: { NoncurrentDays: 30 }, Status: 'Enabled' })],
      },
    });
    t.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('can be left out', () => {
    const t = synth({ reportBucket: false });
    t.resourceCountIs('AWS::S3::Bucket', 0);
    assert.equal(only(t, 'AWS::Lambda::Function').Properties.Environment.Variables.REPORT_BUCKET, undefined);
  });
});

describe('self-service group', () => {
  const canonical = JSON.parse(fs.readFileSync(CANONICAL_POLICY_FILE, 'utf8'));
  const groupPolicy = (t: Template) =>
    only(t, 'AWS::IAM::Policy', { Properties: { PolicyName: 'self-service' } }).Properties;

  it('carries the canonical policy file, unchanged, with every switch on', () => {
    const t = synth();
    const p = groupPolicy(t);
    assert.deepEqual(p.PolicyDocument, canonical);
    assert.deepEqual(p.Groups, [{ Ref: logicalId(t, 'AWS::IAM::Group') }]);
    only(t, 'AWS::IAM::Group', { Properties: { GroupName: 'SelfEdit' } });
  });

  it('drops exactly the statements of a switched-off feature', () => {
    const sids = (doc: { Statement: { Sid: string }[] }) => doc.Statement.map((s) => s.Sid);
    const all = sids(canonical);
    const cases: [object, string[]][] = [
      [{ sshKeyManagementAllowed: false }, ['AllowManageOwnSSHPublicKeys', 'AllowManageOwnGitCredentials']],
      [{ blockNonMfaAccess: false }, ['DenyAllExceptListedIfNoMFA']],
      [{ passwordEditingAllowed: false }, ['AllowManageOwnPasswords']],
      [{ accessKeyManagementAllowed: false }, ['AllowManageOwnAccessKeys', 'AllowManageOwnSigningCertificates']],
      [{ mfaManagementAllowed: false }, ['AllowManageOwnVirtualMFADevice', 'AllowManageOwnUserMFA']],
    ];
    for (const [switches, gone] of cases) {
      const doc = groupPolicy(synth({ selfService: switches })).PolicyDocument;
      assert.deepEqual(sids(doc), all.filter((s: string) => !gone.includes(s)), JSON.stringify(switches));
      // What stays is the canonical text of those statements.
      for (const s of doc.Statement) {
        assert.deepEqual(s, canonical.Statement.find((c: { Sid: string }) => c.Sid === s.Sid));
      }
    }
    assert.deepEqual(selfServicePolicy(), canonical);
  });

  it('can be left to an existing group', () => {
    const t = synth({ createSelfServiceGroup: false, selfServiceGroupName: 'Force_MFA' });
    t.resourceCountIs('AWS::IAM::Group', 0);
    assert.equal(only(t, 'AWS::Lambda::Function').Properties.Environment.Variables.MFA_GROUP, 'Force_MFA');
  });
});

describe('cdk-nag', () => {
  it('passes the AWS Solutions rules with every exception acknowledged in code', () => {
    // synth() throws on an unacknowledged finding; every variant must pass.
    for (const props of [{}, { rotationMode: 'enforce' as const }, { reportBucket: false }, { createSelfServiceGroup: false }]) {
      assert.doesNotThrow(() => synth(props), JSON.stringify(props));
    }
  });

  it('fails synthesis on a finding nobody acknowledged', () => {
    const app = new App();
    const stack = new KeywardenStack(app, 'Keywarden', {
      env: { account: ACCOUNT, region: REGION },
      securityTeamEmail: 'secops@example.org',
      functionAssetPath: PLACEHOLDER,
    });
    // A bucket without TLS enforcement or logging: AwsSolutions-S1 and -S10.
    new (require('aws-cdk-lib/aws-s3').Bucket)(stack, 'Unreviewed');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    assert.throws(() => app.synth(), /AwsSolutions-S1|Validation failed/);
  });
});
