import { CfnCondition, CfnOutput, CfnParameter, Fn, Stack, StackProps, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/**
 * The roles keywarden assumes in each member account of an organization, as a stack a
 * service-managed StackSet deploys into every account of the chosen OUs. Parameters only (no
 * context, no assets), so one template serves every account.
 *
 * Two roles, because an audit must never hold credentials that could change a key: the audit
 * role only reads (and imports findings into the account's own Security Hub); the rotation
 * role, assumed only in enforce mode, holds the key and secret writes and the reads the
 * rotation does on the same credentials. Both trust exactly keywarden's function role, and
 * the ExternalId when one is given.
 */
export class MemberRolesStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    const principal = new CfnParameter(this, 'KeywardenPrincipalArn', {
      type: 'String',
      description: "The ARN of keywarden's function role in the management (or delegated administrator) account",
      allowedPattern: '^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$',
      default: 'arn:aws:iam::111111111111:role/keywarden-function',
    });
    const externalId = new CfnParameter(this, 'ExternalId', {
      type: 'String',
      description: 'Required as sts:ExternalId when set (MEMBER_EXTERNAL_ID); empty for none',
      default: '',
      noEcho: true,
    });
    const auditName = new CfnParameter(this, 'AuditRoleName', { type: 'String', default: 'keywarden-audit' });
    const rotationName = new CfnParameter(this, 'RotationRoleName', { type: 'String', default: 'keywarden-rotation' });
    const hasExternalId = new CfnCondition(this, 'HasExternalId', {
      expression: Fn.conditionNot(Fn.conditionEquals(externalId.valueAsString, '')),
    });
    const trust = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: principal.valueAsString },
          Action: 'sts:AssumeRole',
          Condition: Fn.conditionIf(
            hasExternalId.logicalId,
            { StringEquals: { 'sts:ExternalId': externalId.valueAsString } },
            Fn.ref('AWS::NoValue'),
          ),
        },
      ],
    };
    const users = `arn:${this.partition}:iam::${this.account}:user/*`;
    const secrets = `arn:${this.partition}:secretsmanager:*:${this.account}:secret:keywarden/*`;
    const userReads = ['iam:GetUser', 'iam:ListUserTags', 'iam:ListAccessKeys', 'iam:GetAccessKeyLastUsed', 'iam:GetLoginProfile'];
    const audit = new iam.CfnRole(this, 'AuditRole', {
      roleName: auditName.valueAsString,
      description: 'keywarden audit: reads IAM; assumed by keywarden from the management account',
      assumeRolePolicyDocument: trust,
      maxSessionDuration: 3600,
      policies: [
        {
          policyName: 'keywarden-audit',
          policyDocument: {
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'AuditAccountReads',
                Effect: 'Allow',
                Action: [
                  'iam:GenerateCredentialReport',
                  'iam:GetCredentialReport',
                  'iam:GetAccountAuthorizationDetails',
                  'iam:ListVirtualMFADevices',
                  'iam:GetAccountSummary',
                  'iam:GetAccountPasswordPolicy',
                  'secretsmanager:ListSecrets',
                ],
                Resource: '*',
              },
              { Sid: 'AuditUserReads', Effect: 'Allow', Action: userReads, Resource: users },
              {
                Sid: 'AuditPolicyReads',
                Effect: 'Allow',
                Action: ['iam:GetPolicy', 'iam:GetPolicyVersion'],
                Resource: [`arn:${this.partition}:iam::aws:policy/*`, `arn:${this.partition}:iam::${this.account}:policy/*`],
              },
              { Sid: 'StoredKeyReads', Effect: 'Allow', Action: ['secretsmanager:DescribeSecret'], Resource: secrets },
              {
                Sid: 'ImportFindings',
                Effect: 'Allow',
                Action: ['securityhub:BatchImportFindings'],
                Resource: `arn:${this.partition}:securityhub:*:${this.account}:product/${this.account}/default`,
              },
            ],
          },
        },
      ],
    });
    const rotation = new iam.CfnRole(this, 'RotationRole', {
      roleName: rotationName.valueAsString,
      description: 'keywarden rotation: key and secret writes; assumed only in enforce mode',
      assumeRolePolicyDocument: trust,
      maxSessionDuration: 3600,
      policies: [
        {
          policyName: 'keywarden-rotation',
          policyDocument: {
            Version: '2012-10-17',
            Statement: [
              { Sid: 'RotationReads', Effect: 'Allow', Action: userReads, Resource: users },
              {
                Sid: 'RotateKeys',
                Effect: 'Allow',
                Action: ['iam:CreateAccessKey', 'iam:UpdateAccessKey', 'iam:DeleteAccessKey', 'iam:TagUser', 'iam:UntagUser'],
                Resource: users,
              },
              { Sid: 'StoredKeyListing', Effect: 'Allow', Action: ['secretsmanager:ListSecrets'], Resource: '*' },
              {
                Sid: 'StoreNewKeys',
                Effect: 'Allow',
                Action: [
                  'secretsmanager:DescribeSecret',
                  'secretsmanager:CreateSecret',
                  'secretsmanager:PutSecretValue',
                  'secretsmanager:PutResourcePolicy',
                  'secretsmanager:TagResource',
                ],
                Resource: secrets,
              },
              {
                Sid: 'OwnRole',
                Effect: 'Allow',
                Action: ['iam:GetRole'],
                Resource: `arn:${this.partition}:iam::${this.account}:role/${rotationName.valueAsString}`,
              },
            ],
          },
        },
      ],
    });
    // cdk-nag names the pseudo parameters <AWS::…>.
    const ack = (role: iam.CfnRole, resource: string, reason: string) =>
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${resource.replace('{p}', '<AWS::Partition>').replace(/\{a\}/g, '<AWS::AccountId>')}]`,
        reason,
      });
    const reasons: Record<string, string> = {
      '*': 'Account-level IAM reads and secretsmanager:ListSecrets support no resource-level scoping.',
      'arn:{p}:iam::{a}:user/*': 'keywarden audits (and in enforce mode rotates) every IAM user; user ARNs are the narrowest resource.',
      'arn:{p}:iam::aws:policy/*': 'Reads the AWS-managed policies attached to users and groups.',
      'arn:{p}:iam::{a}:policy/*': "Reads the account's customer-managed policies attached to users and groups.",
      'arn:{p}:secretsmanager:*:{a}:secret:keywarden/*':
        "Only keywarden's own secrets (keywarden/<user>), in the regions the function runs in; Secrets Manager appends a random suffix.",
      'arn:{p}:securityhub:*:{a}:product/{a}/default': "The account's own default product, in the region the function imports in.",
    };
    for (const r of ['*', 'arn:{p}:iam::{a}:user/*', 'arn:{p}:iam::aws:policy/*', 'arn:{p}:iam::{a}:policy/*', 'arn:{p}:secretsmanager:*:{a}:secret:keywarden/*', 'arn:{p}:securityhub:*:{a}:product/{a}/default']) {
      ack(audit, r, reasons[r]);
    }
    for (const r of ['*', 'arn:{p}:iam::{a}:user/*', 'arn:{p}:secretsmanager:*:{a}:secret:keywarden/*']) {
      ack(rotation, r, reasons[r]);
    }
    new CfnOutput(this, 'AuditRoleArn', { value: audit.attrArn });
    new CfnOutput(this, 'RotationRoleArn', { value: rotation.attrArn });
  }
}
