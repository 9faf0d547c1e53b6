import { CfnElement, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';

/** What the fan-out's Distributed Map may do at once, and how many failed items it accepts. */
export const DEFAULT_FANOUT_CONCURRENCY = 10;
export const TOLERATED_FAILURE_PERCENTAGE = 10;

/**
 * A large organization's run on Step Functions: list the accounts, one function invocation
 * per account in a Distributed Map, then the aggregation. An account the function cannot
 * enter is a result of its own (the item succeeds), so only items that left no result count
 * against the tolerated failures, and those can be redriven; the aggregation runs whether the
 * map succeeded or not, and reports an account without a result as not audited.
 */
export class FanOut extends Construct {
  public readonly stateMachine: sfn.StateMachine;

  constructor(scope: Construct, id: string, fn: lambda.IFunction, concurrency: number) {
    super(scope, id);
    const invoke = (name: string, payload?: sfn.TaskInput) =>
      new tasks.LambdaInvoke(this, name, {
        lambdaFunction: fn,
        payload,
        payloadResponseOnly: true,
        // Lambda's own throttling and service errors are retried; a function error is not.
        retryOnServiceExceptions: true,
      });
    const list = invoke('ListAccounts', sfn.TaskInput.fromObject({ action: 'list-accounts' }));
    const map = new sfn.DistributedMap(this, 'Accounts', {
      itemsPath: '$.accounts',
      itemSelector: {
        action: 'audit-account',
        run_id: sfn.JsonPath.stringAt('$.run_id'),
        account: sfn.JsonPath.objectAt('$$.Map.Item.Value'),
      },
      maxConcurrency: concurrency,
      toleratedFailurePercentage: TOLERATED_FAILURE_PERCENTAGE,
      resultPath: sfn.JsonPath.DISCARD,
    });
    map.itemProcessor(invoke('AuditAccount'));
    const aggregate = invoke(
      'Aggregate',
      sfn.TaskInput.fromObject({ action: 'aggregate', run_id: sfn.JsonPath.stringAt('$.run_id') }),
    );
    map.addCatch(aggregate, { resultPath: '$.map_error' });
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      definitionBody: sfn.DefinitionBody.fromChainable(list.next(map).next(aggregate)),
      stateMachineType: sfn.StateMachineType.STANDARD,
      timeout: Duration.hours(6),
      tracingEnabled: true,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    const stack = Stack.of(this);
    const p = (v: string, name: string) => (Token.isUnresolved(v) ? `<AWS::${name}>` : v);
    const fnId = stack.getLogicalId(fn.node.defaultChild as CfnElement);
    const smId = stack.getLogicalId(this.stateMachine.node.defaultChild as CfnElement);
    const executions = `arn:${p(stack.partition, 'Partition')}:states:${p(stack.region, 'Region')}:${p(stack.account, 'AccountId')}:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${smId}"}]}]}`;
    const acks: [string, string][] = [
      [`<${fnId}.Arn>:*`, "The function's versions and aliases, as CDK's LambdaInvoke grants them."],
      [`${executions}/*:*`, "The Distributed Map's own child executions, whose names Step Functions generates."],
      [`${executions}:*`, "The Distributed Map's own map runs, whose names Step Functions generates."],
      ['*', 'X-Ray trace segments and CloudWatch Logs log deliveries support no resource-level scoping.'],
    ];
    for (const [resource, reason] of acks) {
      Validations.of(this.stateMachine).acknowledge({ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason });
    }
  }
}
